# METADATA
# title: Purpose-Based Customer Data Use
# description: >
#   Lacuna additions to the seed's Pattern 3 (purpose_based.rego): customer data may go to the
#   analytics warehouse for analytics; marketing use needs consent-management certification.
# custom:
#   id: P-2024-004
#   owner: data-governance@example.com
#   compliance: [GDPR]
#   version: 1.0.0
package governance.purpose_based

import rego.v1

allow if allow_for_analytics

deny contains "Using customer data for marketing requires consent-management certification" if {
	deny_for_marketing
}

reasons contains "Customer data may go to the analytics warehouse for analytics" if {
	allow_for_analytics
}

alternatives contains "Complete the consent-management certification, or choose another purpose" if {
	deny_for_marketing
}
