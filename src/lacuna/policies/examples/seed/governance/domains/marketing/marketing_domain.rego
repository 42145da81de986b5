# policies/marketing_domain.rego
#
# The seed's "Federated Policy Ownership" example, verbatim (Rego v0). Lacuna's additions (a
# title and id, the export action, and an allow that votes) are in marketing_lacuna.rego.
package governance.domains.marketing
# Marketing team owns policies for marketing data
metadata := {
"domain": "marketing",
"owner": "marketing-data-lead@example.com",
"inherits": ["governance.export"] # Inherit corporate policies
}
# Domain-specific classification
classify_marketing_data[classification] {
input.source.table_name == "campaigns"
classification := {
"tier": "INTERNAL",
"tags": ["MARKETING", "CAMPAIGN_DATA"],
"steward": "marketing-data-lead@example.com"
}
}
classify_marketing_data[classification] {
input.source.table_name == "customer_segments"
classification := {
"tier": "PROPRIETARY", # Contains customer intelligence
"tags": ["MARKETING", "PROPRIETARY", "CUSTOMER_INTELLIGENCE"],
"steward": "marketing-data-lead@example.com"
}
}
# Marketing-specific export rules
allow_marketing_export {
input.source.tags[_] == "MARKETING"
input.user.department == "marketing"
input.destination.type == "marketing_automation_platform"
}
