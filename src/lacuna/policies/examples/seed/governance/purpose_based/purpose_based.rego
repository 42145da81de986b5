# Common Patterns, Pattern 3: Purpose-Based Access. The seed's text, verbatim (Rego v0).
# Lacuna's additions (title, id, and the allow and deny that vote) are in
# purpose_based_lacuna.rego.
package governance.purpose_based
allow_for_analytics {
input.purpose == "analytics"
input.source.tags[_] == "CUSTOMER_DATA"
input.destination.type == "analytics_warehouse"
}
deny_for_marketing {
input.purpose == "marketing"
input.source.tags[_] == "CUSTOMER_DATA"
not input.user.consent_management_certified == true
}
