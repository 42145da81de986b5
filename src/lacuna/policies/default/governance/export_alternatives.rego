# P-2024-001, continued: runnable ways to proceed when an export is not allowed.
#
# The code is built from what the integration saw: input.context.variable (the user's name for
# the data; "df" when unknown), input.context.method ("to_csv"; both are Python identifiers or
# null; only writer methods named to_* or write_* are pasted into code), input.source.pii_columns and input.destination.uri (the target as the user wrote it).
# The governed location comes from data.lacuna.governed_roots, which Lacuna fills from
# `destinations.governed` in lacuna.yaml.
#
# Comprehensions are assigned inside rule bodies: regorus cannot schedule a comprehension used
# directly as the value of a rule that has a body or an `else`.
package governance.export

import rego.v1

alternatives := array.concat(array.concat(alt_anonymize, alt_governed), alt_exception)

# --- what the user wrote --------------------------------------------------------------------

variable := v if {
	v := input.context.variable
	is_string(v)
	v != ""
} else := "df"

# The user's writer method, when it can be called as `data.method(path)`.
writer := m if {
	m := input.context.method
	is_string(m)
	startswith(m, "to_")
} else := m if {
	m := input.context.method
	is_string(m)
	startswith(m, "write_")
}

target := t if {
	t := input.destination.uri
	is_string(t)
	t != ""
}

# A Python string literal: 'plain' like the seed, JSON-quoted (also valid Python) otherwise.
py_str(s) := concat("", ["'", s, "'"]) if {
	is_string(s)
	not contains(s, "'")
	not contains(s, "\\")
	not contains(s, "\n")
} else := json.marshal(s)

# The target without any query string or fragment (URLs).
target_path := split(split(target, "?")[0], "#")[0]

# "~/Downloads/customers.csv" -> "~/Downloads/customers_anon.csv"
anon_target := concat("", [stem, "_anon", ext]) if {
	slashes := indexof_n(target_path, "/")
	start := max(array.concat([-1], slashes)) + 1
	dots := [i | some i in indexof_n(target_path, "."); i > start]
	count(dots) > 0
	stem := substring(target_path, 0, max(dots))
	ext := substring(target_path, max(dots), -1)
} else := concat("", [target_path, "_anon"])

# --- 1. anonymize first ---------------------------------------------------------------------

default alt_anonymize := []

alt_anonymize := [{"title": "Anonymize first", "code": code}] if {
	columns := [py_str(c) | some c in object.get(input.source, "pii_columns", [])]
	count(columns) > 0
	call := sprintf("anon_%s = lacuna.anonymize(%s, columns=[%s])", [variable, variable, concat(", ", columns)])
	code := then_write(call)
}

# The anonymize call, then the user's own write call on its result, when both are known.
then_write(call) := sprintf("%s\nanon_%s.%s(%s)", [call, variable, writer, json.marshal(anon_target)]) if {
	writer
	anon_target
} else := call

# --- 2. use a governed location -------------------------------------------------------------

default alt_governed := []

alt_governed := [alt] if {
	input.destination.type in {"file", "object_store", "http"}
	roots := governed_roots
	same_kind := [r | some r in roots; contains(r, "://") == contains(target, "://")]
	root := array.concat(same_kind, roots)[0]
	parts := split(trim_right(target_path, "/"), "/")
	path := concat("/", [trim_right(root, "/"), parts[count(parts) - 1]])
	alt := governed_alternative(path)
}

governed_alternative(path) := {
	"title": "Use governed location",
	"code": sprintf("%s.%s(%s)", [variable, writer, json.marshal(path)]),
	"note": "Automatically encrypted, access logged, retention enforced",
} if {
	writer
} else := {
	"title": concat("", ["Use governed location: ", path]),
	"note": "Automatically encrypted, access logged, retention enforced",
}

# data.lacuna is filled by Lacuna from lacuna.yaml (never read `data` itself: that would make
# every rule depend on every other one).
default governed_roots := []

governed_roots := data.lacuna.governed_roots

# --- 3. request an exception ----------------------------------------------------------------

default alt_exception := []

alt_exception := [{
	"title": "Request exception (requires business justification)",
	"code": sprintf(
		"lacuna.request_exception(\n    data=%s,\n    destination=%s,\n    purpose=%s,\n    approver=%s\n)",
		[variable, target_literal, json.marshal(purpose), json.marshal(exception_approver)],
	),
}] if not exception_granted

purpose := p if {
	p := input.purpose
	is_string(p)
	p != ""
} else := "Describe the business need"

target_literal := json.marshal(target) if target else := "None"
