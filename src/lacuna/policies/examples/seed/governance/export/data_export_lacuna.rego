# METADATA
# description: >
#   Lacuna additions to the seed's P-2024-001 (data_export.rego holds the seed's text). The
#   package's metadata rule gives id, title, owner, compliance and version; this annotation
#   adds the actions it governs.
# custom:
#   actions: [export, write]
package governance.export

import rego.v1

exception_granted if {
	input.exception_approved == true
	input.exception_approver_role == "data_steward"
}

# The hard line the seed's violation message draws ("Cannot export PROPRIETARY data to unmanaged
# location"): a deny, so no domain policy can lift it (deny overrides). The one carve-out is the
# development sandbox that governance.environment_aware opens (/tmp/ in development).
deny contains msg if {
	input.source.classification == "PROPRIETARY"
	not approved_destination
	not exception_granted
	not data.governance.environment_aware.allow_looser_in_dev
	msg := sprintf("Cannot %s PROPRIETARY data to unmanaged location", [input.action])
}

reasons contains "PUBLIC data can go anywhere" if input.source.classification == "PUBLIC"

reasons contains "INTERNAL data may go to internal systems" if {
	input.source.classification == "INTERNAL"
	input.destination.scope == "internal"
}

reasons contains "INTERNAL data may only go to internal systems" if {
	input.source.classification == "INTERNAL"
	not input.destination.scope == "internal"
}

reasons contains "PROPRIETARY data may go to an approved destination" if {
	input.source.classification == "PROPRIETARY"
	approved_destination
}

reasons contains "An exception approved by a data steward covers this operation" if {
	exception_granted
}

# "Why this matters", in the seed's words.
why contains "Contains customer PII" if contains_pii

why contains "Destination is not encrypted or monitored" if input.destination.encrypted == false

why contains "Violates GDPR data minimization principle" if "GDPR" in input.source.tags
