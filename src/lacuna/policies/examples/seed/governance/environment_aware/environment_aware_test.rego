# Tests for Pattern 1 (environment-aware exports).
package governance.environment_aware_test

import rego.v1

secrets := {"classification": "PROPRIETARY", "tags": ["PII"]}

tmp_file := {"type": "local_file", "path_prefix": "/tmp/", "encrypted": false}

governed := {"type": "governed_storage", "encrypted": true}

export_in(environment, destination) := {
	"action": "export", "environment": environment, "source": secrets,
	"destination": destination, "user": {"id": "dev", "role": "engineer"},
}

test_development_allows_proprietary_data_in_tmp if {
	inp := export_in("development", tmp_file)
	data.governance.environment_aware.allow with input as inp
	count(data.governance.export.deny) == 0 with input as inp
	data.governance.environment_aware.reasons == {"In development, PROPRIETARY data may go to a local file under /tmp/"} with input as inp
}

test_production_does_not_allow_tmp if {
	inp := export_in("production", tmp_file)
	not data.governance.environment_aware.allow with input as inp
	count(data.governance.export.deny) == 1 with input as inp
}

test_production_allows_encrypted_governed_storage if {
	inp := export_in("production", governed)
	data.governance.environment_aware.allow with input as inp
	data.governance.environment_aware.reasons == {"In production, PROPRIETARY data may go to encrypted governed storage"} with input as inp
}

test_development_sandbox_is_only_tmp if {
	inp := export_in("development", object.union(tmp_file, {"path_prefix": "/home/dev/"}))
	not data.governance.environment_aware.allow with input as inp
}
