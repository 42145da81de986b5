# Tests for the marketing domain policy (MKT-001) and its federation with P-2024-001.
package governance.domains.marketing_test

import rego.v1

campaign_upload(classification, tags) := {
	"action": "export",
	"source": {"classification": classification, "tags": tags, "table_name": "campaigns"},
	"destination": {"type": "marketing_automation_platform", "scope": "external", "encrypted": false},
	"user": {"id": "mia", "role": "marketing_analyst", "department": "marketing"},
}

test_marketing_may_send_marketing_data_to_its_platform if {
	inp := campaign_upload("INTERNAL", ["MARKETING"])
	data.governance.domains.marketing.allow with input as inp
	data.governance.domains.marketing.reasons == {"Marketing may send marketing data to its marketing automation platform"} with input as inp
}

test_other_departments_may_not if {
	inp := object.union(campaign_upload("INTERNAL", ["MARKETING"]), {"user": {"department": "sales"}})
	not data.governance.domains.marketing.allow with input as inp
}

test_corporate_leaves_internal_marketing_exports_open if {
	inp := campaign_upload("INTERNAL", ["MARKETING"])
	not data.governance.export.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
}

test_corporate_denies_proprietary_segments_even_to_the_platform if {
	inp := campaign_upload("PROPRIETARY", ["MARKETING", "CUSTOMER_INTELLIGENCE"])
	data.governance.domains.marketing.allow with input as inp
	count(data.governance.export.deny) == 1 with input as inp
}

test_domain_classification_of_customer_segments if {
	c := data.governance.domains.marketing.classify_marketing_data with input as {"source": {"table_name": "customer_segments"}}
	c == {{
		"tier": "PROPRIETARY",
		"tags": ["MARKETING", "PROPRIETARY", "CUSTOMER_INTELLIGENCE"],
		"steward": "marketing-data-lead@example.com",
	}}
}

test_metadata_names_domain_owner_and_inherits if {
	m := data.governance.domains.marketing.metadata
	m.domain == "marketing"
	m.owner == "marketing-data-lead@example.com"
	m.inherits == ["governance.export"]
}

test_domain_classification_of_campaigns if {
	c := data.governance.domains.marketing.classify_marketing_data with input as {"source": {"table_name": "campaigns"}}
	c == {{"tier": "INTERNAL", "tags": ["MARKETING", "CAMPAIGN_DATA"], "steward": "marketing-data-lead@example.com"}}
}
