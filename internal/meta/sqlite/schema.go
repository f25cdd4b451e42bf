package sqlite

// migrations are applied in order. Migration n (from 1, as comments and
// errors number them) is migrations[n-1] and brings the schema to version n.
// Append only: a released migration never changes.
var migrations = []string{
	// 1: the base schema.
	`
CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT NOT NULL UNIQUE,
	email         TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL DEFAULT 'user',
	disabled      INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT NOT NULL DEFAULT '',
	source        TEXT NOT NULL DEFAULT 'local',
	subject       TEXT NOT NULL DEFAULT '',
	quota_bytes   INTEGER NOT NULL DEFAULT 0,
	created       INTEGER NOT NULL
);
CREATE INDEX users_subject ON users(source, subject);
CREATE TABLE tokens (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name    TEXT NOT NULL DEFAULT '',
	hash    TEXT NOT NULL UNIQUE,
	scopes  TEXT NOT NULL DEFAULT '',
	revoked INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL DEFAULT 0,
	last_used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE teams (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	quota_bytes INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL
);
CREATE TABLE members (
	team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	owner   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX members_user ON members(user_id);
CREATE TABLE entities (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	name            TEXT NOT NULL UNIQUE,
	description     TEXT NOT NULL DEFAULT '',
	owner_id        INTEGER NOT NULL DEFAULT 0,
	team_id         INTEGER NOT NULL DEFAULT 0,
	default_private INTEGER NOT NULL DEFAULT 0,
	created         INTEGER NOT NULL
);
CREATE TABLE collections (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	entity_id   INTEGER NOT NULL REFERENCES entities(id),
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	private     INTEGER NOT NULL DEFAULT 0,
	created_by  INTEGER NOT NULL DEFAULT 0,
	team_id     INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL,
	UNIQUE (entity_id, name)
);
CREATE TABLE containers (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	collection_id INTEGER NOT NULL REFERENCES collections(id),
	name          TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	frozen        INTEGER NOT NULL DEFAULT 0,
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL,
	UNIQUE (collection_id, name)
);
CREATE TABLE images (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	container_id INTEGER NOT NULL REFERENCES containers(id),
	digest       TEXT NOT NULL,
	size         INTEGER NOT NULL DEFAULT 0,
	arch         TEXT NOT NULL DEFAULT '',
	uploaded     INTEGER NOT NULL DEFAULT 0,
	description  TEXT NOT NULL DEFAULT '',
	signed       INTEGER NOT NULL DEFAULT 0,
	encrypted    INTEGER NOT NULL DEFAULT 0,
	labels       TEXT NOT NULL DEFAULT '{}',
	definition   TEXT NOT NULL DEFAULT '',
	sif_created  INTEGER NOT NULL DEFAULT 0,
	pushed_by    INTEGER NOT NULL DEFAULT 0,
	downloads    INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	UNIQUE (container_id, digest)
);
CREATE INDEX images_digest ON images(digest);
CREATE TABLE tags (
	container_id INTEGER NOT NULL REFERENCES containers(id),
	arch         TEXT NOT NULL,
	name         TEXT NOT NULL,
	image_id     INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	updated      INTEGER NOT NULL,
	PRIMARY KEY (container_id, arch, name)
);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE shares (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	hash       TEXT NOT NULL UNIQUE,
	image_id   INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	tag        TEXT NOT NULL DEFAULT '',
	created_by INTEGER NOT NULL DEFAULT 0,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0,
	downloads  INTEGER NOT NULL DEFAULT 0,
	last_used  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX shares_creator ON shares(created_by);
CREATE TABLE audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit(at);
CREATE TABLE ratelimits (
	key    TEXT PRIMARY KEY,
	win    INTEGER NOT NULL,
	count  INTEGER NOT NULL
);
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE uploads (
	id          TEXT PRIMARY KEY,
	image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	size        INTEGER NOT NULL,
	part_size   INTEGER NOT NULL DEFAULT 0,
	total_parts INTEGER NOT NULL DEFAULT 0,
	hashed      INTEGER NOT NULL DEFAULT 0,
	hash_state  BLOB,
	created_by  INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL,
	expires     INTEGER NOT NULL
);
`,
	// 2: where a team membership came from: '' granted in Silo, else the
	// provider whose group granted it (meta.Member.Source).
	`ALTER TABLE members ADD COLUMN source TEXT NOT NULL DEFAULT '';`,
	// 3: stars (meta.StarStore).
	`CREATE TABLE stars (
	user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
	PRIMARY KEY (collection_id, user_id)
);`,
	// 4: sregistry-cli secrets, sealed by the registry (meta.SregistrySecret).
	`CREATE TABLE sregistry_secrets (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	sealed  BLOB NOT NULL,
	created INTEGER NOT NULL
);`,
	// 5: the OCI distribution API: manifests (their bytes), tags of
	// non-SIF content, blobs linked to containers, upload sessions.
	`CREATE TABLE oci_manifests (
	container_id  INTEGER NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	digest        TEXT NOT NULL,
	media_type    TEXT NOT NULL,
	body          BLOB NOT NULL,
	subject       TEXT NOT NULL DEFAULT '',
	artifact_type TEXT NOT NULL DEFAULT '',
	image_id      INTEGER REFERENCES images(id) ON DELETE CASCADE,
	created       INTEGER NOT NULL,
	PRIMARY KEY (container_id, digest)
);
CREATE INDEX oci_manifests_image ON oci_manifests(image_id);
CREATE INDEX oci_manifests_subject ON oci_manifests(container_id, subject);
CREATE TABLE oci_tags (
	container_id INTEGER NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	digest       TEXT NOT NULL,
	updated      INTEGER NOT NULL,
	PRIMARY KEY (container_id, name)
);
CREATE TABLE oci_blobs (
	container_id INTEGER NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	digest       TEXT NOT NULL,
	key          TEXT NOT NULL,
	size         INTEGER NOT NULL,
	created      INTEGER NOT NULL,
	PRIMARY KEY (container_id, digest)
);
CREATE INDEX oci_blobs_key ON oci_blobs(key);
CREATE TABLE oci_uploads (
	id           TEXT PRIMARY KEY,
	container_id INTEGER NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	size         INTEGER NOT NULL DEFAULT 0,
	hash_state   BLOB,
	created_by   INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	expires      INTEGER NOT NULL
);
CREATE INDEX oci_uploads_expires ON oci_uploads(expires);
`,
}
