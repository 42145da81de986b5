# Common Patterns, Pattern 2: Time-Based Access. The seed's text in Rego v0, with two fixes
# (marked "Lacuna fix"). Lacuna's additions (title, id, and the deny that votes) are in
# time_based_lacuna.rego.
#
# input.source.created_at is when the data was collected: an RFC 3339 timestamp string with a
# UTC offset, e.g. "2025-01-15T09:30:00Z" or "2025-01-15T09:30:00+00:00" (Lacuna fills it
# with the oldest source's creation time, in UTC). It reads the clock, so Lacuna never caches
# decisions of a bundle that contains it.
package governance.time_based
# Lacuna fix: the seed had `import time`; imports must start with data, input, future or rego,
# and the time.* builtins need no import.
# Customer data older than 90 days requires special access
requires_retention_approval {
input.source.tags[_] == "CUSTOMER_DATA"
# Lacuna fix: Rego has no time.diff_days, and created_at is a timestamp string; the age in days
# is the difference in nanoseconds (time.parse_rfc3339_ns reads the string) over one day's.
data_age_days := (time.now_ns() - time.parse_rfc3339_ns(input.source.created_at)) / 86400000000000
data_age_days > 90
not input.user.role == "compliance_officer"
}
