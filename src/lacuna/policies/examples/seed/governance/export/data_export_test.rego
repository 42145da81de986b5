# Tests for P-2024-001 as the seed wrote it, with Lacuna's additions.
package governance.export_test

import rego.v1

downloads := {"type": "file", "path": "~/Downloads/customers.csv", "encrypted": false, "scope": "external"}

governed := {"type": "governed_storage", "encrypted": true, "scope": "internal"}

customers := {"classification": "PROPRIETARY", "tags": ["PII", "GDPR"]}

export_of(source, destination) := {
	"action": "export", "source": source, "destination": destination,
	"environment": "production", "user": {"id": "analyst_alice", "role": "data_analyst"},
}

test_public_data_can_go_anywhere if {
	inp := export_of({"classification": "PUBLIC", "tags": []}, downloads)
	data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_internal_data_to_internal_systems if {
	data.governance.export.allow with input as export_of({"classification": "INTERNAL", "tags": []}, {"type": "database", "scope": "internal"})
}

test_internal_data_outside_is_not_allowed_but_not_denied if {
	inp := export_of({"classification": "INTERNAL", "tags": []}, downloads)
	not data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_proprietary_to_encrypted_governed_storage if {
	data.governance.export.allow with input as export_of(customers, governed)
}

test_proprietary_to_a_classification_aware_database if {
	data.governance.export.allow with input as export_of(customers, {"type": "database", "classification_support": true})
}

test_proprietary_to_downloads_is_denied_with_the_seed_message if {
	inp := export_of(customers, downloads)
	not data.governance.export.allow with input as inp
	data.governance.export.deny == {"Cannot export PROPRIETARY data to unmanaged location"} with input as inp
	data.governance.export.why == {
		"Contains customer PII", "Destination is not encrypted or monitored",
		"Violates GDPR data minimization principle",
	} with input as inp
}

test_denial_offers_the_seed_alternatives if {
	alternatives := data.governance.export.alternatives with input as export_of(customers, downloads)
	alternatives == {
		"Anonymize PII: lacuna.anonymize(data, pii_columns=['email', 'phone', 'address'])",
		"Save to governed storage: /governed/workspace/",
		"Request exception: lacuna.request_exception(purpose='...', approver='data-steward@example.com')",
	}
}

test_steward_exception_allows_and_lifts_the_deny if {
	inp := object.union(export_of(customers, downloads), {"exception_approved": true, "exception_approver_role": "data_steward"})
	data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_exception_by_another_role_does_not_count if {
	inp := object.union(export_of(customers, downloads), {"exception_approved": true, "exception_approver_role": "team_lead"})
	not data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 1 with input as inp
}

test_metadata_is_the_seeds if {
	data.governance.export.metadata.id == "P-2024-001"
	data.governance.export.metadata.compliance == ["GDPR", "CCPA"]
}

test_reasons_name_the_rule_that_applied if {
	data.governance.export.reasons == {"PUBLIC data can go anywhere"} with input as export_of({"classification": "PUBLIC", "tags": []}, downloads)
	data.governance.export.reasons == {"INTERNAL data may go to internal systems"} with input as export_of({"classification": "INTERNAL", "tags": []}, {"scope": "internal"})
	data.governance.export.reasons == {"INTERNAL data may only go to internal systems"} with input as export_of({"classification": "INTERNAL", "tags": []}, downloads)
	data.governance.export.reasons == {"PROPRIETARY data may go to an approved destination"} with input as export_of(customers, governed)
}

test_reasons_name_a_steward_exception if {
	inp := object.union(export_of(customers, downloads), {"exception_approved": true, "exception_approver_role": "data_steward"})
	"An exception approved by a data steward covers this operation" in data.governance.export.reasons with input as inp
}
