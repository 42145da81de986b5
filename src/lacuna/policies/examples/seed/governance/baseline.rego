# METADATA
# title: Baseline Data Use
# description: >
#   Lacuna addition (not in the seed): reading and transforming data is allowed, so those
#   actions do not fail closed; the seed's policies govern what happens next.
# custom:
#   id: P-2024-000
#   owner: data-governance@example.com
#   version: 1.0.0
#   actions: [read, transform]
package governance.baseline

import rego.v1

allow := true

reasons contains sprintf("%s within your session is allowed", [verb]) if {
	verb := {"read": "Reading data", "transform": "Transforming data"}[input.action]
}
