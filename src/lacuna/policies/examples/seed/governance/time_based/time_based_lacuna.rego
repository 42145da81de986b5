# METADATA
# title: Customer Data Retention Access
# description: >
#   Lacuna additions to the seed's Pattern 2 (time_based.rego): customer data older than
#   90 days may only be used by a compliance officer, whatever the action.
# custom:
#   id: P-2024-003
#   owner: data-governance@example.com
#   compliance: [GDPR]
#   version: 1.0.0
#   max_age_days: 90
package governance.time_based

import rego.v1

deny contains "Customer data older than 90 days requires the compliance_officer role" if {
	requires_retention_approval
}

why contains "Customer data is kept for a limited time after collection" if {
	requires_retention_approval
}

alternatives contains "Ask a compliance officer to run this operation, or use data collected in the last 90 days" if {
	requires_retention_approval
}
