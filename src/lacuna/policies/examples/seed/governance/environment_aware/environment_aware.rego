# Common Patterns, Pattern 1: Development vs Production. The seed's text, verbatim (Rego v0).
# Lacuna's additions (title, id, actions, and an allow that votes) are in
# environment_aware_lacuna.rego.
package governance.environment_aware
allow_looser_in_dev {
input.environment == "development"
input.source.classification == "PROPRIETARY"
input.destination.type == "local_file"
input.destination.path_prefix == "/tmp/"
}
# Stricter in production
allow_strict_in_prod {
input.environment == "production"
input.source.classification == "PROPRIETARY"
input.destination.type == "governed_storage"
input.destination.encrypted == true
}
