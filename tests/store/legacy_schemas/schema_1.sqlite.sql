-- Schema 1 as cctrace created it (commit e7bc434^, SQLAlchemy create_all on sqlite).
-- Generated once from that commit's src/cctrace/store/schema.py; do not edit.

CREATE TABLE store_meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE cameras (
	id VARCHAR(128) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	lat DOUBLE, 
	lon DOUBLE, 
	x_m DOUBLE, 
	y_m DOUBLE, 
	homography JSON, 
	config JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE cases (
	id VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(128) NOT NULL, 
	legal_basis TEXT NOT NULL, 
	notes TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_case_status CHECK (status IN ('open', 'closed'))
);

CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	timestamp DATETIME NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	case_id VARCHAR(64), 
	"query" JSON NOT NULL, 
	result JSON NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (prev_hash)
);

CREATE INDEX ix_audit_log_case_id ON audit_log (case_id);

CREATE TABLE footage_files (
	id INTEGER NOT NULL, 
	camera_id VARCHAR(128) NOT NULL, 
	path TEXT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	start_time DATETIME NOT NULL, 
	duration_s DOUBLE NOT NULL, 
	fps DOUBLE NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	progress_offset_s DOUBLE NOT NULL, 
	checkpoint_state BLOB, 
	error TEXT, 
	frames_decoded BIGINT NOT NULL, 
	frames_failed BIGINT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_footage_camera_sha256 UNIQUE (camera_id, sha256), 
	CONSTRAINT ck_footage_status CHECK (status IN ('pending', 'running', 'done', 'partial', 'failed')), 
	FOREIGN KEY(camera_id) REFERENCES cameras (id)
);

CREATE INDEX ix_footage_files_camera_id ON footage_files (camera_id);

CREATE TABLE tracklets (
	id INTEGER NOT NULL, 
	camera_id VARCHAR(128) NOT NULL, 
	footage_id INTEGER NOT NULL, 
	track_id BIGINT NOT NULL, 
	start_time DATETIME NOT NULL, 
	end_time DATETIME NOT NULL, 
	n_points INTEGER NOT NULL, 
	mask_status VARCHAR(16) NOT NULL, 
	mask_worn_votes INTEGER NOT NULL, 
	mask_not_worn_votes INTEGER NOT NULL, 
	snapshot_path TEXT, 
	best_face_quality DOUBLE, 
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
	tracklet_id INTEGER NOT NULL, 
	frame_index BIGINT NOT NULL, 
	timestamp DATETIME NOT NULL, 
	x1 DOUBLE NOT NULL, 
	y1 DOUBLE NOT NULL, 
	x2 DOUBLE NOT NULL, 
	y2 DOUBLE NOT NULL, 
	ground_x DOUBLE, 
	ground_y DOUBLE, 
	confidence DOUBLE NOT NULL, 
	PRIMARY KEY (tracklet_id, frame_index), 
	FOREIGN KEY(tracklet_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE TABLE face_embeddings (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	tracklet_id INTEGER NOT NULL, 
	frame_index BIGINT NOT NULL, 
	timestamp DATETIME NOT NULL, 
	quality DOUBLE NOT NULL, 
	mask_probability DOUBLE, 
	vector BLOB NOT NULL, 
	crop_path TEXT, 
	FOREIGN KEY(tracklet_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE INDEX ix_face_embeddings_tracklet_id ON face_embeddings (tracklet_id);

CREATE INDEX ix_face_embeddings_timestamp ON face_embeddings (timestamp);

CREATE TABLE encounters (
	id INTEGER NOT NULL, 
	camera_id VARCHAR(128) NOT NULL, 
	footage_id INTEGER NOT NULL, 
	tracklet_a_id INTEGER NOT NULL, 
	tracklet_b_id INTEGER NOT NULL, 
	start_time DATETIME NOT NULL, 
	end_time DATETIME NOT NULL, 
	seconds_within_1m DOUBLE, 
	seconds_within_2m DOUBLE, 
	seconds_within_3m DOUBLE, 
	seconds_by_band JSON NOT NULL, 
	min_distance_m DOUBLE NOT NULL, 
	min_distance_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_encounter_pair_start UNIQUE (tracklet_a_id, tracklet_b_id, start_time), 
	CONSTRAINT ck_encounter_order CHECK (tracklet_a_id < tracklet_b_id), 
	FOREIGN KEY(camera_id) REFERENCES cameras (id), 
	FOREIGN KEY(footage_id) REFERENCES footage_files (id) ON DELETE CASCADE, 
	FOREIGN KEY(tracklet_a_id) REFERENCES tracklets (id) ON DELETE CASCADE, 
	FOREIGN KEY(tracklet_b_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE INDEX ix_encounters_time ON encounters (start_time, end_time);

CREATE INDEX ix_encounters_b ON encounters (tracklet_b_id);

CREATE TABLE case_sightings (
	case_id VARCHAR(64) NOT NULL, 
	tracklet_id INTEGER NOT NULL, 
	score DOUBLE NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	decided_by VARCHAR(128), 
	decided_at DATETIME, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (case_id, tracklet_id), 
	CONSTRAINT ck_sighting_status CHECK (status IN ('accepted', 'needs_review', 'rejected')), 
	FOREIGN KEY(case_id) REFERENCES cases (id) ON DELETE CASCADE, 
	FOREIGN KEY(tracklet_id) REFERENCES tracklets (id) ON DELETE CASCADE
);

CREATE INDEX ix_case_sightings_tracklet_id ON case_sightings (tracklet_id);
