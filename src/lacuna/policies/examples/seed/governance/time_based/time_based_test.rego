# Tests for Pattern 2 (time-based access). The clock is fixed with `with time.now_ns as`.
package governance.time_based_test

import rego.v1

# 2025-06-01T00:00:00Z
now := 1748736000000000000

read_of(created_at, role) := {
	"action": "read",
	"source": {"classification": "INTERNAL", "tags": ["CUSTOMER_DATA"], "created_at": created_at},
	"user": {"id": "alice", "role": role},
}

test_recent_customer_data_is_open if {
	inp := read_of("2025-05-01T00:00:00Z", "data_analyst")
	not data.governance.time_based.requires_retention_approval with input as inp with time.now_ns as now
	count(data.governance.time_based.deny) == 0 with input as inp with time.now_ns as now
}

test_data_older_than_90_days_needs_a_compliance_officer if {
	inp := read_of("2025-01-15T09:30:00+00:00", "data_analyst")
	data.governance.time_based.deny == {"Customer data older than 90 days requires the compliance_officer role"} with input as inp with time.now_ns as now
	count(data.governance.time_based.why) == 1 with input as inp with time.now_ns as now
	count(data.governance.time_based.alternatives) == 1 with input as inp with time.now_ns as now
}

test_compliance_officer_may_use_old_data if {
	inp := read_of("2025-01-15T09:30:00Z", "compliance_officer")
	count(data.governance.time_based.deny) == 0 with input as inp with time.now_ns as now
}

test_exactly_90_days_is_still_open if {
	inp := read_of("2025-03-03T00:00:00Z", "data_analyst")
	count(data.governance.time_based.deny) == 0 with input as inp with time.now_ns as now
}

test_other_data_is_not_time_limited if {
	inp := object.union(read_of("2020-01-01T00:00:00Z", "data_analyst"), {"source": {"tags": ["PII"]}})
	count(data.governance.time_based.deny) == 0 with input as inp with time.now_ns as now
}
