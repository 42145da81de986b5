package governance.baseline_test

import rego.v1

test_reading_is_allowed if {
	data.governance.baseline.allow with input as {"action": "read"}
	data.governance.baseline.reasons == {"Reading data within your session is allowed"} with input as {"action": "read"}
}
