# Tests for the seed's Policy-as-Code example (package governance, a helper: it does not vote).
package governance.pii_export_test

import rego.v1

test_internal_data_may_be_exported if {
	data.governance.allow_export with input as {"classification": "INTERNAL"}
}

test_proprietary_to_encrypted_governed_storage_may_be_exported if {
	data.governance.allow_export with input as {
		"classification": "PROPRIETARY",
		"destination": {"type": "governed_storage", "encrypted": true},
	}
}

test_proprietary_to_a_file_is_not_exported_and_gets_alternatives if {
	inp := {"classification": "PROPRIETARY", "destination": {"type": "file", "encrypted": false}}
	not data.governance.allow_export with input as inp
	alternatives := data.governance.alternatives with input as inp
	alternatives == {
		"Use anonymized version: lacuna.anonymize(data, pii_columns)",
		"Save to governed location: /governed/workspace/",
		"Save to governed location: /governed/reports/",
		"Save to governed location: s3://company-governed-data/",
	}
}

test_no_alternatives_when_allowed if {
	count(data.governance.alternatives) == 0 with input as {"classification": "PUBLIC"}
}
