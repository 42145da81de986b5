# Unit tests for P-2024-000 (run them with `lacuna policy test`, or PolicyEngine.run_tests()).
package governance.baseline_test

import rego.v1

test_read_is_allowed_with_a_reason if {
	data.governance.baseline.allow with input as {"action": "read"}
	data.governance.baseline.reasons == {"Reading data within your session is allowed; controls apply when data leaves it"} with input as {"action": "read"}
}

test_metadata_limits_it_to_read_and_transform if {
	data.governance.baseline.metadata.actions == ["read", "transform"]
}
