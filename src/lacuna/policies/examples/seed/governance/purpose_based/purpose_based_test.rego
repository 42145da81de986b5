# Tests for Pattern 3 (purpose-based access).
package governance.purpose_based_test

import rego.v1

use_for(purpose, destination, certified) := {
	"action": "export", "purpose": purpose,
	"source": {"classification": "INTERNAL", "tags": ["CUSTOMER_DATA"]},
	"destination": {"type": destination, "scope": "external"},
	"user": {"id": "alice", "role": "data_analyst", "consent_management_certified": certified},
}

test_analytics_in_the_warehouse_is_allowed if {
	inp := use_for("analytics", "analytics_warehouse", false)
	data.governance.purpose_based.allow with input as inp
	data.governance.purpose_based.reasons == {"Customer data may go to the analytics warehouse for analytics"} with input as inp
}

test_analytics_elsewhere_is_not if {
	not data.governance.purpose_based.allow with input as use_for("analytics", "file", false)
}

test_marketing_without_certification_is_denied if {
	inp := use_for("marketing", "marketing_automation_platform", false)
	data.governance.purpose_based.deny == {"Using customer data for marketing requires consent-management certification"} with input as inp
	data.governance.purpose_based.alternatives == {"Complete the consent-management certification, or choose another purpose"} with input as inp
}

test_marketing_with_certification_is_not_denied if {
	count(data.governance.purpose_based.deny) == 0 with input as use_for("marketing", "marketing_automation_platform", true)
}
