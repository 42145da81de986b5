# P-2024-000 Baseline Data Use: reading and transforming data is allowed.
#
# Controls apply where data leaves the session (export, write: see P-2024-001); reading and
# transforming only need a policy so they do not fail closed. Classification still follows the
# data through lineage, so whatever is derived is governed when it leaves.
package governance.baseline

import rego.v1

metadata := {
	"id": "P-2024-000",
	"title": "Baseline Data Use",
	"owner": "data-governance@example.com",
	"version": "1.0.0",
	"actions": ["read", "transform"],
}

allow := true

reasons contains sprintf("%s within your session is allowed; controls apply when data leaves it", [verb]) if {
	verb := {"read": "Reading data", "transform": "Transforming data"}[input.action]
}
