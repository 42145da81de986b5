# P-2024-001, continued: which ways to proceed apply when an export is not allowed.
#
# The policy names the kinds of alternative and their wording; Lacuna builds the code for the
# frame and configuration at hand and checks each one before it is shown (lacuna.alternatives):
#
#   anonymize          "Anonymize first": the columns that keep the data above what the
#                      destination accepts, found by dry-running anonymize -> classify -> decide;
#   governed_location  "Use governed location": a configured governed root that exists, is
#                      writable and where the same write would be allowed;
#   exception          "Request exception": lacuna.request_exception(...) for the same export,
#                      addressed to `approver`.
#
# A kind whose check fails is dropped (or replaced by how to configure what is missing). Any
# package may name these kinds; other alternatives ({title, code, note}) are shown as written.
# Constants only: this rule runs on every denial.
package governance.export

import rego.v1

# Literals, not rule references: each reference costs the embedded engine microseconds.
alternatives := [
	{"kind": "anonymize", "title": "Anonymize first"},
	{
		"kind": "governed_location",
		"title": "Use governed location",
		"note": "Automatically encrypted, access logged, retention enforced",
	},
] if {
	input.exception_approved == true
	input.exception_approver_role == "data_steward"
} else := [
	{"kind": "anonymize", "title": "Anonymize first"},
	{
		"kind": "governed_location",
		"title": "Use governed location",
		"note": "Automatically encrypted, access logged, retention enforced",
	},
	{
		"kind": "exception",
		"title": "Request exception (requires business justification)",
		"approver": "data-steward@example.com", # exception_approver in export.rego
	},
]
