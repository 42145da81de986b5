# METADATA
# title: Environment-Aware Exports
# description: >
#   Lacuna additions to the seed's Pattern 1 (environment_aware.rego): looser in development
#   (PROPRIETARY data to a local file under /tmp/), stricter in production (encrypted governed
#   storage only).
# custom:
#   id: P-2024-002
#   owner: data-governance@example.com
#   version: 1.0.0
#   actions: [export, write]
package governance.environment_aware

import rego.v1

allow if allow_looser_in_dev

allow if allow_strict_in_prod

reasons contains "In development, PROPRIETARY data may go to a local file under /tmp/" if {
	allow_looser_in_dev
}

reasons contains "In production, PROPRIETARY data may go to encrypted governed storage" if {
	allow_strict_in_prod
}
