BEGIN TRANSACTION;
CREATE TABLE lacuna_audit (
	seq INTEGER NOT NULL, 
	id VARCHAR(32) NOT NULL, 
	timestamp VARCHAR(40) NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	allowed BOOLEAN NOT NULL, 
	policy_id VARCHAR(255), 
	body TEXT NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	signature VARCHAR(128), 
	PRIMARY KEY (seq), 
	UNIQUE (id)
);
INSERT INTO "lacuna_audit" VALUES(1,'7712978238804a20aa9049e35b7111a7','2026-12-02T05:32:40.379218+00:00','user0','export',1,NULL,'{"decision":{"allowed":true,"alternatives":[],"bundle_revision":null,"engine_error":null,"eval_ms":0.0,"policies":[],"policy_id":null,"policy_title":null,"reasoning":"r","steward":null},"how":{"code_location":null,"method":""},"id":"7712978238804a20aa9049e35b7111a7","operation_id":"c65ff3aa443f4406b0ed57b508ded030","recorded_at":"2026-12-02T05:32:40.379249+00:00","schema_version":"1","seq":1,"what":{"action":"export","column_count":0,"columns":{},"destination":null,"environment":"development","sources":[],"tags":[],"tier":"PUBLIC"},"when":"2026-12-02T05:32:40.379218+00:00","who":{"role":"analyst","session":"s","user_id":"user0"},"why":{"exception_id":null,"purpose":null}}','0000000000000000000000000000000000000000000000000000000000000000','7c113192f59b63d257cb05a10f1152f8aac4ea0df74c074cca9e1fc579c7b0ae','hmac-sha256:57af7e645ca3:2cd0e458b575014085d6119439a06c9c6cf2674e97174583ace3b948bf2dfe74');
INSERT INTO "lacuna_audit" VALUES(2,'d7ea2819aa204315af5c2c10644b27e2','2026-12-02T05:32:40.379864+00:00','user1','export',0,'P-1','{"decision":{"allowed":false,"alternatives":[],"bundle_revision":null,"engine_error":null,"eval_ms":0.0,"policies":[],"policy_id":"P-1","policy_title":null,"reasoning":"r","steward":null},"how":{"code_location":null,"method":""},"id":"d7ea2819aa204315af5c2c10644b27e2","operation_id":"5e15125d163e4f0ba6cc060bb574270f","recorded_at":"2026-12-02T05:32:40.379878+00:00","schema_version":"1","seq":2,"what":{"action":"export","column_count":0,"columns":{},"destination":null,"environment":"development","sources":[],"tags":[],"tier":"PUBLIC"},"when":"2026-12-02T05:32:40.379864+00:00","who":{"role":"analyst","session":"s","user_id":"user1"},"why":{"exception_id":null,"purpose":null}}','7c113192f59b63d257cb05a10f1152f8aac4ea0df74c074cca9e1fc579c7b0ae','32b60573c7152b5298d7cf8cb3617c5a3b4ca37c840c9e1e42be2447462ab415','hmac-sha256:57af7e645ca3:30c8c795646ded3456a393f13d041b37d732c3690126c01ea261e1d89d0d835e');
INSERT INTO "lacuna_audit" VALUES(3,'a455824fe6724c6dbcd7a3eab0a7aa97','2026-12-02T05:32:40.380124+00:00','user2','export',1,NULL,'{"decision":{"allowed":true,"alternatives":[],"bundle_revision":null,"engine_error":null,"eval_ms":0.0,"policies":[],"policy_id":null,"policy_title":null,"reasoning":"r","steward":null},"how":{"code_location":null,"method":""},"id":"a455824fe6724c6dbcd7a3eab0a7aa97","operation_id":"cb22546e32b9439d9723039fec85c5da","recorded_at":"2026-12-02T05:32:40.380136+00:00","schema_version":"1","seq":3,"what":{"action":"export","column_count":0,"columns":{},"destination":null,"environment":"development","sources":[],"tags":[],"tier":"PUBLIC"},"when":"2026-12-02T05:32:40.380124+00:00","who":{"role":"analyst","session":"s","user_id":"user2"},"why":{"exception_id":null,"purpose":null}}','32b60573c7152b5298d7cf8cb3617c5a3b4ca37c840c9e1e42be2447462ab415','75bdffb66bff7f1b4f20e926aa25e8cbf4fe2011e209d0f78f2672d221c43080','hmac-sha256:57af7e645ca3:bcc0d592f53314a2f46ca9f56b4dd47bdd61978f34460b74eaaf26b437b8499a');
CREATE TABLE lacuna_audit_head (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	layout_version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "lacuna_audit_head" VALUES(1,3,'75bdffb66bff7f1b4f20e926aa25e8cbf4fe2011e209d0f78f2672d221c43080',2);
CREATE TABLE lacuna_decision_log (
	decision_id VARCHAR(64) NOT NULL, 
	timestamp VARCHAR(40) NOT NULL, 
	operation_id VARCHAR(64), 
	path VARCHAR(255) NOT NULL, 
	allowed BOOLEAN NOT NULL, 
	revision VARCHAR(128), 
	body TEXT NOT NULL, 
	seq INTEGER, 
	prev_hash VARCHAR(64), 
	hash VARCHAR(64), 
	signature VARCHAR(128), 
	PRIMARY KEY (decision_id), 
	UNIQUE (seq)
);
INSERT INTO "lacuna_decision_log" VALUES('d-1','2026-11-30T09:00:00+00:00','op-1','lacuna/decision',1,'r1','{"bundles":{"lacuna":{"revision":"r1"}},"decision_id":"d-1","path":"lacuna/decision","result":{"allowed":true,"operation_id":"op-1"},"timestamp":"2026-11-30T09:00:00+00:00"}',1,'0000000000000000000000000000000000000000000000000000000000000000','689e81d7a243426a997577a5ad53ab9da00f437ac326418fa91579589abaff6d','hmac-sha256:57af7e645ca3:46536516b7ab2de670ec71684337b7a17d10184d91137815e5a0c2e2a5d71c37');
CREATE TABLE lacuna_decision_log_head (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "lacuna_decision_log_head" VALUES(1,1,'689e81d7a243426a997577a5ad53ab9da00f437ac326418fa91579589abaff6d');
CREATE TABLE lacuna_exception_files (
	id INTEGER NOT NULL, 
	exception_id VARCHAR(32) NOT NULL, 
	path TEXT NOT NULL, 
	written_by VARCHAR(255) NOT NULL, 
	written_at VARCHAR(40) NOT NULL, 
	encrypted BOOLEAN NOT NULL, 
	deleted_at VARCHAR(40), 
	PRIMARY KEY (id)
);
CREATE TABLE lacuna_exceptions (
	id VARCHAR(32) NOT NULL, 
	year VARCHAR(4) NOT NULL, 
	requested_by VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	duration_hours FLOAT NOT NULL, 
	body TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "lacuna_exceptions" VALUES('EXC-2026-001','2026','alice','pending',1.0,'{"id": "EXC-2026-001", "requested_by": "alice", "requester_role": "analyst", "action": "export", "destination": "/tmp/board.csv", "sources": [], "tier": "PUBLIC", "tags": [], "purpose": "Quarterly board presentation", "business_justification": "", "approver": "steward@example.com", "duration_hours": 1.0, "conditions": [], "created_at": "2026-11-30T09:00:00+00:00", "status": "pending", "decided_by": null, "decided_role": null, "decided_at": null, "comment": null, "valid_from": null, "valid_until": null, "policy_id": null, "policy_steward": null, "domains": [], "history": [{"at": "2026-11-30T09:00:00+00:00", "by": "alice", "event": "requested", "comment": "Quarterly board presentation"}], "signature": "hmac-sha256:57af7e645ca3:81ce1c3de45b22b917ec57f12e7f77ca39941635dac127a83195008b828cf537"}');
CREATE TABLE lacuna_lineage_column_edges (
	id INTEGER NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	source_id INTEGER NOT NULL, 
	source_column VARCHAR(1024) NOT NULL, 
	target_id INTEGER NOT NULL, 
	target_column VARCHAR(1024) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	description TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES lacuna_lineage_runs (id), 
	FOREIGN KEY(source_id) REFERENCES lacuna_lineage_datasets (id), 
	FOREIGN KEY(target_id) REFERENCES lacuna_lineage_datasets (id)
);
CREATE TABLE lacuna_lineage_datasets (
	id INTEGER NOT NULL, 
	namespace VARCHAR(1024) NOT NULL, 
	name VARCHAR(2048) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lacuna_lineage_datasets_ref UNIQUE (namespace, name)
);
INSERT INTO "lacuna_lineage_datasets" VALUES(1,'file','/data/a.csv');
INSERT INTO "lacuna_lineage_datasets" VALUES(2,'file','/data/b.csv');
CREATE TABLE lacuna_lineage_edges (
	parent_id INTEGER NOT NULL, 
	child_id INTEGER NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	PRIMARY KEY (parent_id, child_id, run_id), 
	FOREIGN KEY(parent_id) REFERENCES lacuna_lineage_datasets (id), 
	FOREIGN KEY(child_id) REFERENCES lacuna_lineage_datasets (id), 
	FOREIGN KEY(run_id) REFERENCES lacuna_lineage_runs (id)
);
INSERT INTO "lacuna_lineage_edges" VALUES(1,2,'run-1');
CREATE TABLE lacuna_lineage_run_io (
	run_id VARCHAR(64) NOT NULL, 
	version_id INTEGER NOT NULL, 
	direction VARCHAR(3) NOT NULL, 
	position INTEGER NOT NULL, 
	PRIMARY KEY (run_id, version_id, direction), 
	FOREIGN KEY(run_id) REFERENCES lacuna_lineage_runs (id), 
	FOREIGN KEY(version_id) REFERENCES lacuna_lineage_versions (id)
);
INSERT INTO "lacuna_lineage_run_io" VALUES('run-1',1,'in',0);
INSERT INTO "lacuna_lineage_run_io" VALUES('run-1',2,'out',0);
CREATE TABLE lacuna_lineage_runs (
	id VARCHAR(64) NOT NULL, 
	operation VARCHAR(255) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	role VARCHAR(255) NOT NULL, 
	session VARCHAR(255) NOT NULL, 
	started_at VARCHAR(40) NOT NULL, 
	ended_at VARCHAR(40), 
	purpose TEXT, 
	exception_id VARCHAR(255), 
	method VARCHAR(255) NOT NULL, 
	code_location TEXT, 
	code_hash VARCHAR(128), 
	code_text TEXT, 
	decision_id VARCHAR(255), 
	policy_id VARCHAR(255), 
	error TEXT, 
	producer VARCHAR(1024) NOT NULL, 
	provenance TEXT NOT NULL, 
	seq INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "lacuna_lineage_runs" VALUES('run-1','export','succeeded','','','','2026-11-30T09:00:00.000000+00:00','2026-11-30T09:00:01.000000+00:00',NULL,NULL,'',NULL,NULL,NULL,NULL,NULL,NULL,'lacuna','{"extra": [], "libraries": [], "quality_checks": []}',1);
CREATE TABLE lacuna_lineage_schema (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "lacuna_lineage_schema" VALUES(1,1);
CREATE TABLE lacuna_lineage_versions (
	id INTEGER NOT NULL, 
	dataset_id INTEGER NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	fingerprint VARCHAR(256), 
	tier VARCHAR(16) NOT NULL, 
	classification TEXT NOT NULL, 
	columns TEXT NOT NULL, 
	created VARCHAR(40) NOT NULL, 
	produced BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(dataset_id) REFERENCES lacuna_lineage_datasets (id)
);
INSERT INTO "lacuna_lineage_versions" VALUES(1,1,'run-1',NULL,'INTERNAL','{"columns": {}, "confidence": 1.0, "floor": "PUBLIC", "layer": "heuristic", "reasoning": [], "schema_version": "1", "table_tags": [], "tags": [], "tier": "INTERNAL"}','["id"]','2026-11-30T09:00:00.000000+00:00',1);
INSERT INTO "lacuna_lineage_versions" VALUES(2,2,'run-1',NULL,'INTERNAL','{"columns": {}, "confidence": 1.0, "floor": "PUBLIC", "layer": "heuristic", "reasoning": [], "schema_version": "1", "table_tags": [], "tags": [], "tier": "INTERNAL"}','["id"]','2026-11-30T09:00:01.000000+00:00',1);
CREATE TABLE lacuna_users (
	name VARCHAR(128) NOT NULL, 
	roles TEXT NOT NULL, 
	token_sha256 VARCHAR(64) NOT NULL, 
	created_at VARCHAR(40) NOT NULL, 
	disabled BOOLEAN NOT NULL, 
	PRIMARY KEY (name), 
	UNIQUE (token_sha256)
);
INSERT INTO "lacuna_users" VALUES('steward_sam','["data_steward"]','dcdd4c2e9b85ba30462aa106bc9de8dd8c0b48d703320b62046f374953a67e81','2026-12-02T05:32:40.633610+00:00',0);
CREATE INDEX ix_lacuna_audit_action ON lacuna_audit (action);
CREATE INDEX ix_lacuna_audit_policy_id ON lacuna_audit (policy_id);
CREATE INDEX ix_lacuna_audit_timestamp ON lacuna_audit (timestamp);
CREATE INDEX ix_lacuna_audit_user_id ON lacuna_audit (user_id);
CREATE INDEX ix_lacuna_audit_allowed ON lacuna_audit (allowed);
CREATE INDEX ix_lacuna_exceptions_requested_by ON lacuna_exceptions (requested_by);
CREATE INDEX ix_lacuna_exceptions_year ON lacuna_exceptions (year);
CREATE INDEX ix_lacuna_exceptions_status ON lacuna_exceptions (status);
CREATE INDEX ix_lacuna_exception_files_exception_id ON lacuna_exception_files (exception_id);
CREATE INDEX ix_lacuna_lineage_runs_started ON lacuna_lineage_runs (started_at);
CREATE INDEX ix_lacuna_lineage_runs_seq ON lacuna_lineage_runs (seq);
CREATE INDEX ix_lacuna_lineage_versions_run ON lacuna_lineage_versions (run_id);
CREATE INDEX ix_lacuna_lineage_versions_dataset ON lacuna_lineage_versions (dataset_id, produced, created);
CREATE INDEX ix_lacuna_lineage_versions_fingerprint ON lacuna_lineage_versions (fingerprint);
CREATE INDEX ix_lacuna_lineage_edges_child ON lacuna_lineage_edges (child_id, parent_id);
CREATE INDEX ix_lacuna_lineage_column_edges_source ON lacuna_lineage_column_edges (source_id);
CREATE INDEX ix_lacuna_lineage_column_edges_run ON lacuna_lineage_column_edges (run_id);
CREATE INDEX ix_lacuna_lineage_column_edges_target ON lacuna_lineage_column_edges (target_id);
CREATE INDEX ix_lacuna_lineage_run_io_version ON lacuna_lineage_run_io (version_id);
CREATE INDEX ix_lacuna_decision_log_revision ON lacuna_decision_log (revision);
CREATE INDEX ix_lacuna_decision_log_timestamp ON lacuna_decision_log (timestamp);
CREATE INDEX ix_lacuna_decision_log_allowed ON lacuna_decision_log (allowed);
CREATE INDEX ix_lacuna_decision_log_operation_id ON lacuna_decision_log (operation_id);
COMMIT;
