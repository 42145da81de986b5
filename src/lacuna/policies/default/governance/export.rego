# P-2024-001 PII Export Restrictions: where data of each tier may go.
#
# The seed's "Centralized Policy Definition", in Rego v1:
#   PUBLIC       anywhere;
#   INTERNAL     only to destinations whose scope is internal;
#   PROPRIETARY  only to encrypted governed storage, or a database that keeps classification;
#   or with an exception approved by a data steward.
# Governed storage is Lacuna's own, managed and internal: one described as unmanaged or external
# (only a hand-built or remote input can say so) is not approved, whatever its encryption.
# PROPRIETARY data going anywhere else is a hard `deny` (a domain policy cannot lift it);
# INTERNAL data going outside is only "not allowed" (a domain policy may grant it).
#
# `allow`, `deny` and `reason` read `input` directly rather than through the helper rules: they
# run on every decision, and each rule reference costs the embedded engine a couple of
# microseconds. The helpers stay, as the seed wrote them, and the tests check both agree.
package governance.export

import rego.v1

metadata := {
	"id": "P-2024-001",
	"title": "PII Export Restrictions",
	"owner": "data-governance@example.com",
	"compliance": ["GDPR", "CCPA"],
	"version": "1.2.0",
	"last_updated": "2025-01-15",
	"actions": ["export", "write"],
}

exception_approver := "data-steward@example.com"

# --- helpers (as in the seed) ---------------------------------------------------------------

contains_pii if "PII" in input.source.tags

approved_destination if {
	input.destination.type == "governed_storage"
	input.destination.encrypted == true
	not input.destination.managed == false
	not input.destination.scope == "external"
}

approved_destination if {
	input.destination.type == "database"
	input.destination.classification_support == true
}

exception_granted if {
	input.exception_approved == true
	input.exception_approver_role == "data_steward"
}

# --- the decision ---------------------------------------------------------------------------

default allow := false

# Public data can go anywhere.
allow if input.source.classification == "PUBLIC"

# Internal data to internal systems.
allow if {
	input.source.classification == "INTERNAL"
	input.destination.scope == "internal"
}

# Proprietary data only to approved destinations (approved_destination, inlined: this rule runs
# on every decision).
allow if {
	input.source.classification == "PROPRIETARY"
	input.destination.type == "governed_storage"
	input.destination.encrypted == true
	not input.destination.managed == false
	not input.destination.scope == "external"
}

allow if {
	input.source.classification == "PROPRIETARY"
	input.destination.type == "database"
	input.destination.classification_support == true
}

# Exception granted by a data steward.
allow if {
	input.exception_approved == true
	input.exception_approver_role == "data_steward"
}

deny contains msg if {
	input.source.classification == "PROPRIETARY"
	phrase := unapproved_destination_phrase
	phrase != ""
	msg := concat("", ["Cannot ", input.action, " PROPRIETARY data to ", phrase])
}

# The destination as `deny` names it, or "" when PROPRIETARY data may go there: the seed's
# `not approved_destination`, `not exception_granted` and `destination_phrase` in one else-chain
# (export_test.rego checks that they agree). `deny` runs on every export, and each rule it
# references costs the embedded engine about as much again as the chain.
unapproved_destination_phrase := "" if {
	input.destination.type == "governed_storage"
	input.destination.encrypted == true
	not input.destination.managed == false
	not input.destination.scope == "external"
} else := "" if {
	input.destination.type == "database"
	input.destination.classification_support == true
} else := "" if {
	input.exception_approved == true
	input.exception_approver_role == "data_steward"
} else := "unmanaged location" if {
	input.destination.type == "file"
	input.destination.managed == false
} else := "a local file outside governed storage" if {
	input.destination.type == "file"
} else := "governed storage described as unmanaged or outside the company" if {
	input.destination.type == "governed_storage"
	input.destination.encrypted == true
} else := "unencrypted storage" if {
	input.destination.type == "governed_storage"
} else := "an object store" if {
	input.destination.type == "object_store"
} else := "an HTTP endpoint" if {
	input.destination.type == "http"
} else := "a database without classification support" if {
	input.destination.type == "database"
} else := "a destination Lacuna could not classify"

# --- reasons (the one-line answer, on allow and on a denial without `deny`) ------------------

reasons contains reason

# An else-chain stops at the first match: cheaper than one body per case.
reason := "An exception approved by a data steward covers this operation" if {
	input.exception_approved == true
	input.exception_approver_role == "data_steward"
	input.source.classification != "PUBLIC"
} else := "PUBLIC data may go anywhere" if {
	input.source.classification == "PUBLIC"
} else := "INTERNAL data may go to internal destinations" if {
	input.source.classification == "INTERNAL"
	input.destination.scope == "internal"
} else := msg if {
	input.source.classification == "INTERNAL"
	msg := concat("", ["Cannot ", input.action, " INTERNAL data to ", destination_phrase, " outside the company"])
} else := "PROPRIETARY data may go to encrypted governed storage" if {
	input.source.classification == "PROPRIETARY"
	input.destination.type == "governed_storage"
	input.destination.encrypted == true
	not input.destination.managed == false
	not input.destination.scope == "external"
} else := "PROPRIETARY data may go to a database that keeps classification labels" if {
	input.source.classification == "PROPRIETARY"
	input.destination.type == "database"
	input.destination.classification_support == true
}

default destination_phrase := "a destination Lacuna could not classify"

destination_phrase := "unmanaged location" if {
	input.destination.type == "file"
	input.destination.managed == false
} else := "a local file outside governed storage" if {
	input.destination.type == "file"
} else := "governed storage described as unmanaged or outside the company" if {
	input.destination.type == "governed_storage"
	input.destination.encrypted == true
} else := "unencrypted storage" if {
	input.destination.type == "governed_storage"
} else := "an object store" if {
	input.destination.type == "object_store"
} else := "an HTTP endpoint" if {
	input.destination.type == "http"
} else := "a database without classification support" if {
	input.destination.type == "database"
}

# --- why this matters -----------------------------------------------------------------------
# Lacuna reads `why` and `alternatives` only when the decision is a denial, so they need not
# test `not allow` (which would cost a second evaluation of `allow`).

why := array.concat(why_data, array.concat(why_destination, why_compliance))

# Each chain ends in `else := []` rather than a default, and reads input directly: this runs on
# every denial. pii_types are strings (Lacuna builds them); anything else is an engine error,
# which denies (fail closed).
why_data := [concat("", ["Contains customer PII (", concat(", ", input.source.pii_types), ")"])] if {
	"PII" in input.source.tags
	count(input.source.pii_types) > 0
} else := ["Contains customer PII"] if {
	"PII" in input.source.tags
} else := ["INTERNAL data must stay on internal systems"] if {
	input.source.classification == "INTERNAL"
} else := ["PROPRIETARY data may only go to encrypted governed storage or classification-aware databases"] if {
	input.source.classification == "PROPRIETARY"
} else := []

why_destination := ["Destination is not encrypted or monitored"] if {
	input.destination.managed == false
} else := ["Destination is outside the company network"] if {
	input.destination.scope == "external"
} else := ["Destination database cannot keep classification labels"] if {
	input.destination.type == "database"
} else := ["Destination is not encrypted"] if {
	input.destination.encrypted == false
} else := []

why_compliance := lines if {
	lines := [line | some tag, line in compliance_notes; tag in input.source.tags]
}

compliance_notes := {
	"GDPR": "Violates GDPR data minimization principle",
	"CCPA": "Falls under CCPA: consumers may opt out of the sale or sharing of their data",
	"HIPAA": "Violates the HIPAA minimum necessary standard",
}
