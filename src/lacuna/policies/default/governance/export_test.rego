# Unit tests for P-2024-001 (run them with `lacuna policy test`, or PolicyEngine.run_tests()).
package governance.export_test

import rego.v1

# Rules are referenced by their full path: regorus (0.9) sometimes returns a rule's default
# instead of its value when it is reached through an import alias under `with`.

downloads := {
	"uri": "~/Downloads/customers.csv", "type": "file", "scope": "external",
	"encrypted": false, "managed": false, "classification_support": false,
	"path": "/home/alice/Downloads/customers.csv", "path_prefix": "~/Downloads",
}

governed := {
	"uri": "/governed/workspace/customers.csv", "type": "governed_storage", "scope": "internal",
	"encrypted": true, "managed": true, "classification_support": false,
	"path": "/governed/workspace/customers.csv", "path_prefix": "/governed/workspace/",
}

aware_db := {
	"uri": "postgresql://warehouse.internal/analytics", "type": "database", "scope": "internal",
	"encrypted": false, "managed": true, "classification_support": true,
}

internal_file := {
	"uri": "reports/q4.csv", "type": "file", "scope": "internal",
	"encrypted": false, "managed": true, "classification_support": false,
}

customers := {
	"classification": "PROPRIETARY", "tags": ["PII", "GDPR"],
	"pii_columns": ["email", "phone", "address"], "pii_types": ["email", "phone", "address"],
}

export_of(source, destination) := {
	"action": "export", "source": source, "destination": destination,
	"user": {"id": "analyst_alice", "role": "data_analyst", "clearance": "INTERNAL"},
	"exception_approved": false, "exception_approver_role": null,
	"purpose": null, "context": {"method": "to_csv", "variable": "df"},
}

test_public_goes_anywhere if {
	data.governance.export.allow with input as export_of({"classification": "PUBLIC", "tags": []}, downloads)
}

test_internal_to_internal_allowed if {
	data.governance.export.allow with input as export_of({"classification": "INTERNAL", "tags": []}, internal_file)
}

test_internal_to_unmanaged_not_allowed_but_not_denied if {
	inp := export_of({"classification": "INTERNAL", "tags": []}, downloads)
	not data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
	data.governance.export.reasons == {"Cannot export INTERNAL data to unmanaged location outside the company"} with input as inp
}

test_proprietary_to_downloads_denied_with_seed_reason if {
	inp := export_of(customers, downloads)
	not data.governance.export.allow with input as inp
	data.governance.export.deny == {"Cannot export PROPRIETARY data to unmanaged location"} with input as inp
}

test_proprietary_to_governed_allowed if {
	inp := export_of(customers, governed)
	data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_proprietary_to_classification_aware_database_allowed if {
	data.governance.export.allow with input as export_of(customers, aware_db)
}

test_unencrypted_governed_storage_denied if {
	inp := export_of(customers, object.union(governed, {"encrypted": false}))
	data.governance.export.deny == {"Cannot export PROPRIETARY data to unencrypted storage"} with input as inp
}

test_governed_storage_described_as_unmanaged_or_external_denied if {
	every odd in [{"managed": false}, {"scope": "external"}, {"managed": false, "scope": "external"}] {
		inp := export_of(customers, object.union(governed, odd))
		not data.governance.export.allow with input as inp
		not data.governance.export.approved_destination with input as inp
		data.governance.export.deny == {"Cannot export PROPRIETARY data to governed storage described as unmanaged or outside the company"} with input as inp
	}
}

test_governed_storage_without_managed_or_scope_keeps_the_seed_reading if {
	inp := export_of(customers, {"type": "governed_storage", "encrypted": true})
	data.governance.export.allow with input as inp
	data.governance.export.approved_destination with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_steward_exception_allows if {
	inp := object.union(export_of(customers, downloads), {
		"exception_approved": true, "exception_approver_role": "data_steward",
	})
	data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_exception_from_other_role_does_not_allow if {
	inp := object.union(export_of(customers, downloads), {
		"exception_approved": true, "exception_approver_role": "team_lead",
	})
	not data.governance.export.allow with input as inp
}

test_why_lines_follow_the_seed if {
	data.governance.export.why == [
		"Contains customer PII (email, phone, address)",
		"Destination is not encrypted or monitored",
		"Violates GDPR data minimization principle",
	] with input as export_of(customers, downloads)
}

test_alternatives_name_their_kinds if {
	alts := data.governance.export.alternatives with input as export_of(customers, downloads)
	[a.kind | some a in alts] == ["anonymize", "governed_location", "exception"]
	[a.title | some a in alts] == [
		"Anonymize first",
		"Use governed location",
		"Request exception (requires business justification)",
	]
	alts[1].note == "Automatically encrypted, access logged, retention enforced"
	alts[2].approver == "data-steward@example.com"
}

test_no_exception_alternative_once_one_is_granted if {
	inp := object.union(export_of(customers, downloads), {
		"exception_approved": true, "exception_approver_role": "data_steward"})
	alts := data.governance.export.alternatives with input as inp
	[a.kind | some a in alts] == ["anonymize", "governed_location"]
}

test_internal_data_outside_gets_the_same_kinds if {
	http := object.union(downloads, {"uri": "https://partner.example.org/upload", "type": "http"})
	alts := data.governance.export.alternatives with input as export_of({"classification": "INTERNAL", "tags": ["FINANCIAL"]}, http)
	[a.kind | some a in alts] == ["anonymize", "governed_location", "exception"]
}

test_exception_alternative_names_the_approver if {
	alts := data.governance.export.alternatives with input as export_of(customers, downloads)
	alts[2].approver == data.governance.export.exception_approver
}

# `deny` reads one else-chain (unapproved_destination_phrase) instead of the seed's helpers:
# for every kind of destination, with and without an exception, it must say what they say.
seed_deny(inp) := set() if {
	data.governance.export.approved_destination with input as inp
} else := set() if {
	data.governance.export.exception_granted with input as inp
} else := {concat("", ["Cannot ", inp.action, " PROPRIETARY data to ", phrase])} if {
	phrase := data.governance.export.destination_phrase with input as inp
}

destinations := [
	downloads, governed, aware_db, internal_file,
	object.union(governed, {"encrypted": false}),
	object.union(aware_db, {"classification_support": false}),
	object.union(downloads, {"uri": "s3://bucket/x.csv", "type": "object_store"}),
	object.union(downloads, {"uri": "https://partner.example.org/upload", "type": "http"}),
	object.union(downloads, {"type": "carrier_pigeon"}),
]

grants := [
	{"exception_approved": false, "exception_approver_role": null},
	{"exception_approved": true, "exception_approver_role": "data_steward"},
	{"exception_approved": true, "exception_approver_role": "team_lead"},
]

test_deny_agrees_with_the_seed_helpers if {
	every destination in destinations {
		every grant in grants {
			inp := object.union(export_of(customers, destination), grant)
			data.governance.export.deny == seed_deny(inp) with input as inp
		}
	}
}

test_deny_names_each_kind_of_destination if {
	messages := {m |
		some destination in destinations
		some m in data.governance.export.deny with input as export_of(customers, destination)
	}
	messages == {
		"Cannot export PROPRIETARY data to unmanaged location",
		"Cannot export PROPRIETARY data to a local file outside governed storage",
		"Cannot export PROPRIETARY data to unencrypted storage",
		"Cannot export PROPRIETARY data to a database without classification support",
		"Cannot export PROPRIETARY data to an object store",
		"Cannot export PROPRIETARY data to an HTTP endpoint",
		"Cannot export PROPRIETARY data to a destination Lacuna could not classify",
	}
}

test_deny_is_for_proprietary_data_only if {
	every tier in ["PUBLIC", "INTERNAL", "CONFIDENTIAL"] {
		count(data.governance.export.deny) == 0 with input as export_of({"classification": tier, "tags": ["PII"]}, downloads)
	}
}
