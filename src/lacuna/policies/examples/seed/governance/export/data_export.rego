# policies/data_export.rego
#
# The seed's "Centralized Policy Definition", verbatim (Rego v0 with future keywords). Lacuna's
# additions to the package (which actions it governs, the deny that domains cannot lift, reasons
# and why) are in data_export_lacuna.rego.
package governance.export
import future.keywords.if
import future.keywords.in
# Policy metadata
metadata := {
"id": "P-2024-001",
"title": "PII Export Restrictions",
"owner": "data-governance@example.com",
"compliance": ["GDPR", "CCPA"],
"version": "1.2.0",
"last_updated": "2025-01-15"
}
# Helper: Check if data contains PII
contains_pii if {
"PII" in input.source.tags
}
# Helper: Check if destination is approved
approved_destination if {
input.destination.type == "governed_storage"
input.destination.encrypted == true
}
approved_destination if {
input.destination.type == "database"
input.destination.classification_support == true
}
# Main policy: Allow export
default allow := false
allow if {
# Public data can go anywhere
input.source.classification == "PUBLIC"
}
allow if {
# Internal data to internal systems
input.source.classification == "INTERNAL"
input.destination.scope == "internal"
}
allow if {
# Proprietary data only to approved destinations
input.source.classification == "PROPRIETARY"
approved_destination
}
allow if {
# Exception granted by data steward
input.exception_approved == true
input.exception_approver_role == "data_steward"
}
# Provide helpful alternatives when denied
alternatives[msg] {
not allow
contains_pii
msg := "Anonymize PII: lacuna.anonymize(data, pii_columns=['email', 'phone', 'address'])"
}
alternatives[msg] {
not allow
input.destination.type == "file"
msg := sprintf("Save to governed storage: %v", [approved_paths[0]])
}
alternatives[msg] {
not allow
msg := "Request exception: lacuna.request_exception(purpose='...', approver='data-steward@example.com')"
}
# List of approved export paths
approved_paths := [
"/governed/workspace/",
"/governed/reports/",
"s3://company-governed-data/"
]
