-- Schema 2 as cctrace created it (commit e7bc434, SQLAlchemy create_all on postgresql).
-- Generated once from that commit's src/cctrace/store/schema.py; do not edit.

CREATE TABLE store_meta (
	key VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (key)
);

CREATE TABLE cameras (
	id VARCHAR(128) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	lat DOUBLE PRECISION, 
	lon DOUBLE PRECISION, 
	x_m DOUBLE PRECISION, 
	y_m DOUBLE PRECISION, 
	homography JSON, 
	config JSON NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE cases (
	id VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	created_by VARCHAR(128) NOT NULL, 
	legal_basis TEXT NOT NULL, 
	notes TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	team VARCHAR(64) NOT NULL, 
	window_from TIMESTAMP WITH TIME ZONE, 
	window_to TIMESTAMP WITH TIME ZONE, 
	parent_case_id VARCHAR(64), 
	closed_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_case_status CHECK (status IN ('open', 'closed'))
);

CREATE TABLE audit_log (
	id BIGINT NOT NULL, 
	timestamp TIMESTAMP WITH TIME ZONE NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	case_id VARCHAR(64), 
	query JSON NOT NULL, 
	result JSON NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (prev_hash)
);

CREATE INDEX ix_audit_log_case_id ON audit_log (case_id);

CREATE TABLE users (
	username VARCHAR(128) NOT NULL, 
	password_hash TEXT NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	team VARCHAR(64) NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (username), 
	CONSTRAINT ck_user_role CHECK (role IN ('investigator', 'supervisor', 'auditor', 'admin'))
);

CREATE TABLE footage_files (
	id BIGSERIAL NOT NULL, 
	camera_id VARCHAR(128) NOT NULL, 
	path TEXT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	start_time TIMESTAMP WITH TIME ZONE NOT NULL, 
	duration_s DOUBLE PRECISION NOT NULL, 
	fps DOUBLE PRECISION NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	progress_offset_s DOUBLE PRECISION NOT NULL, 
	checkpoint_state BYTEA, 
	error TEXT, 
	frames_decoded BIGINT NOT NULL, 
	frames_failed BIGINT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_footage_camera_sha256 UNIQUE (camera_id, sha256), 
	CONSTRAINT ck_footage_status CHECK (status IN ('pending', 'running', 'done', 'partial', 'failed')), 
	FOREIGN KEY(camera_id) REFERENCES cameras (id)
);

CREATE INDEX ix_footage_files_camera_id ON footage_files (camera_id);

CREATE TABLE web_sessions (
	token_hash VARCHAR(64) NOT NULL, 
	username VARCHAR(128) NOT NULL, 
	csrf_token VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (token_hash), 
	FOREIGN KEY(username) REFERENCES users (username) ON DELETE CASCADE
);

CREATE INDEX ix_web_sessions_username ON web_sessions (username);

CREATE INDEX ix_web_sessions_expires_at ON web_sessions (expires_at);

CREATE TABLE approvals (
	id BIGSERIAL NOT NULL, 
	case_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	tracklet_id BIGINT, 
	reason TEXT NOT NULL, 
	requested_by VARCHAR(128) NOT NULL, 
	requested_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	decided_by VARCHAR(128), 
	decided_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_approval_kind CHECK (kind IN ('export', 'unblur')), 
	CONSTRAINT ck_approval_status CHECK (status IN ('pending', 'approved', 'denied')), 
	FOREIGN KEY(case_id) REFERENCES cases (id) ON DELETE CASCADE
);

CREATE INDEX ix_approvals_case_id ON approvals (case_id);

CREATE TABLE tracklets (
	id BIGSERIAL NOT NULL, 
	camera_id VARCHAR(128) NOT NULL, 
	footage_id BIGINT NOT NULL, 
	track_id BIGINT NOT NULL, 
	start_time TIMESTAMP WITH TIME ZONE NOT NULL, 
	end_time TIMESTAMP WITH TIME ZONE NOT NULL, 
	n_points INTEGER NOT NULL, 
	mask_status VARCHAR(16) NOT NULL, 
	mask_worn_votes INTEGER NOT NULL, 
	mask_not_worn_votes INTEGER NOT NULL, 
	snapshot_path TEXT, 
	best_face_quality DOUBLE PRECISION, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_tracklet_footage_track UNIQUE (footage_id, track_id), 
	CONSTRAINT ck_tracklet_mask CHECK (mask_status IN ('worn', 'not_worn', 'unknown')), 
	CONSTRAINT ck_tracklet_span CHECK (start_time <= end_time), 
	FOREIGN KEY(camera_id) REFERENCES cameras (id), 
	FOREIGN KEY(footage_id) REFERENCES footage_files (id) ON DELETE CASCADE
);

CREATE INDEX ix_tracklets_time ON tracklets (start_time, end_time);

CREATE INDEX ix_tracklets_camera_time ON tracklets (camera_id, start_time);

CREATE TABLE track_points (
	tracklet_id BIGINT NOT NULL, 
	frame_index BIGINT NOT NULL, 
	timestamp TIMESTAMP WITH TIME ZONE NOT NULL, 
	x1 DOUBLE PRECISION NOT NULL, 
	y1 DOUBLE PRECISION NOT NULL, 
	x2 DOUBLE PRECISION NOT NULL, 
	y2 DOUBLE PRECISION NOT NULL, 
	ground_x DOUBLE PRECISION, 
	ground_y DOUBLE PRECISION, 
	confidence DOUBLE PRECISION NOT NULL, 
	PRIMARY KEY (tracklet_id, frame_index), 
	FOREIGN KEY(tracklet_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE TABLE face_embeddings (
	id BIGSERIAL NOT NULL, 
	tracklet_id BIGINT NOT NULL, 
	frame_index BIGINT NOT NULL, 
	timestamp TIMESTAMP WITH TIME ZONE NOT NULL, 
	quality DOUBLE PRECISION NOT NULL, 
	mask_probability DOUBLE PRECISION, 
	vector BYTEA NOT NULL, 
	crop_path TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tracklet_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE INDEX ix_face_embeddings_tracklet_id ON face_embeddings (tracklet_id);

CREATE INDEX ix_face_embeddings_timestamp ON face_embeddings (timestamp);

CREATE TABLE encounters (
	id BIGSERIAL NOT NULL, 
	camera_id VARCHAR(128) NOT NULL, 
	footage_id BIGINT NOT NULL, 
	tracklet_a_id BIGINT NOT NULL, 
	tracklet_b_id BIGINT NOT NULL, 
	start_time TIMESTAMP WITH TIME ZONE NOT NULL, 
	end_time TIMESTAMP WITH TIME ZONE NOT NULL, 
	seconds_within_1m DOUBLE PRECISION, 
	seconds_within_2m DOUBLE PRECISION, 
	seconds_within_3m DOUBLE PRECISION, 
	seconds_by_band JSON NOT NULL, 
	min_distance_m DOUBLE PRECISION NOT NULL, 
	min_distance_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_encounter_pair_start UNIQUE (tracklet_a_id, tracklet_b_id, start_time), 
	CONSTRAINT ck_encounter_order CHECK (tracklet_a_id < tracklet_b_id), 
	FOREIGN KEY(camera_id) REFERENCES cameras (id), 
	FOREIGN KEY(footage_id) REFERENCES footage_files (id) ON DELETE CASCADE, 
	FOREIGN KEY(tracklet_a_id) REFERENCES tracklets (id) ON DELETE CASCADE, 
	FOREIGN KEY(tracklet_b_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE INDEX ix_encounters_b ON encounters (tracklet_b_id);

CREATE INDEX ix_encounters_time ON encounters (start_time, end_time);

CREATE TABLE case_sightings (
	case_id VARCHAR(64) NOT NULL, 
	tracklet_id BIGINT NOT NULL, 
	score DOUBLE PRECISION NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	decided_by VARCHAR(128), 
	decided_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (case_id, tracklet_id), 
	CONSTRAINT ck_sighting_status CHECK (status IN ('accepted', 'needs_review', 'rejected')), 
	FOREIGN KEY(case_id) REFERENCES cases (id) ON DELETE CASCADE, 
	FOREIGN KEY(tracklet_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE INDEX ix_case_sightings_tracklet_id ON case_sightings (tracklet_id);
