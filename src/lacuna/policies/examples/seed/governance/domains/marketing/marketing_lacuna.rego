# METADATA
# title: Marketing Automation Exports
# description: >
#   Lacuna additions to the seed's marketing domain policy (marketing_domain.rego): the
#   marketing team may send marketing data to its marketing automation platform. Corporate
#   P-2024-001 still denies PROPRIETARY data there: a domain cannot lift a corporate deny.
# custom:
#   id: MKT-001
#   version: 1.0.0
#   actions: [export]
package governance.domains.marketing

import rego.v1

allow if allow_marketing_export

reasons contains "Marketing may send marketing data to its marketing automation platform" if {
	allow_marketing_export
}
