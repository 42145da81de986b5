# policies/pii_export.rego
#
# The seed's "Policy-as-Code" example, in its own Rego v0 syntax. It defines allow_export and
# alternatives, but neither allow nor deny, so it does not vote in Lacuna decisions: P-2024-001
# (governance.export) is the export policy that votes. `lacuna policy eval` shows its rules, e.g.
#   lacuna policy eval --input op.json data.governance.allow_export
# Two fixes make it valid Rego; each is marked "Lacuna fix".
package governance
# Default deny for safety
default allow_export = false
# Allow export if all conditions met
allow_export {
# Data is not classified as PROPRIETARY
input.classification != "PROPRIETARY"
# OR user has explicit exemption
not input.classification == "PROPRIETARY"
} {
# OR destination is approved
input.destination.type == "governed_storage"
input.destination.encrypted == true
}
# Provide alternatives when denied
alternatives[msg] {
not allow_export
input.classification == "PROPRIETARY"
msg := "Use anonymized version: lacuna.anonymize(data, pii_columns)"
}
# Lacuna fix: the seed chained this second body onto the rule above (`} {`), which is only
# allowed for complete rules; a partial set rule needs a second definition of its own.
alternatives[msg] {
not allow_export
input.classification == "PROPRIETARY"
msg := sprintf("Save to governed location: %s", [approved_paths[_]])
}
# Lacuna fix: the seed used approved_paths without defining it (an unsafe variable); these are
# the approved paths of the seed's P-2024-001.
approved_paths := [
"/governed/workspace/",
"/governed/reports/",
"s3://company-governed-data/"
]
