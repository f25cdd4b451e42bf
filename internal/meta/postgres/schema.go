package postgres

// migrations are applied in order. Migration n (from 1, as comments and
// errors number them) is migrations[n-1] and brings the schema to version n.
// Append only: a released migration never changes.
//
// The tables mirror the SQLite store's, so the two backends hold the same
// facts the same way: times are BIGINT Unix nanoseconds (see ts), not
// TIMESTAMPTZ, because TIMESTAMPTZ keeps only microseconds and the suite
// wants what was written read back exactly; flags are BOOLEAN; labels are
// JSONB so Find can search their values with jsonb_each_text. Member.Source
// is in the first migration because no PostgreSQL database predates it.
// Columns that store another row's id without a REFERENCES (owner_id,
// team_id, created_by, pushed_by) are so in SQLite too: 0 means "none", and
// deleting a user must not be blocked by what they once made.
var migrations = []string{
	// 1: the base schema.
	`
CREATE TABLE users (
	id            BIGSERIAL PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	email         TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL DEFAULT 'user',
	disabled      BOOLEAN NOT NULL DEFAULT false,
	password_hash TEXT NOT NULL DEFAULT '',
	source        TEXT NOT NULL DEFAULT 'local',
	subject       TEXT NOT NULL DEFAULT '',
	quota_bytes   BIGINT NOT NULL DEFAULT 0,
	created       BIGINT NOT NULL
);
CREATE INDEX users_subject ON users(source, subject);
CREATE TABLE tokens (
	id        BIGSERIAL PRIMARY KEY,
	user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name      TEXT NOT NULL DEFAULT '',
	hash      TEXT NOT NULL UNIQUE,
	scopes    TEXT NOT NULL DEFAULT '',
	revoked   BOOLEAN NOT NULL DEFAULT false,
	created   BIGINT NOT NULL,
	expires   BIGINT NOT NULL DEFAULT 0,
	last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE teams (
	id          BIGSERIAL PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	quota_bytes BIGINT NOT NULL DEFAULT 0,
	created     BIGINT NOT NULL
);
CREATE TABLE members (
	team_id BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
	user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	owner   BOOLEAN NOT NULL DEFAULT false,
	source  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX members_user ON members(user_id);
CREATE TABLE entities (
	id              BIGSERIAL PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	description     TEXT NOT NULL DEFAULT '',
	owner_id        BIGINT NOT NULL DEFAULT 0,
	team_id         BIGINT NOT NULL DEFAULT 0,
	default_private BOOLEAN NOT NULL DEFAULT false,
	created         BIGINT NOT NULL
);
CREATE TABLE collections (
	id          BIGSERIAL PRIMARY KEY,
	entity_id   BIGINT NOT NULL REFERENCES entities(id),
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	private     BOOLEAN NOT NULL DEFAULT false,
	created_by  BIGINT NOT NULL DEFAULT 0,
	team_id     BIGINT NOT NULL DEFAULT 0,
	created     BIGINT NOT NULL,
	updated     BIGINT NOT NULL,
	UNIQUE (entity_id, name)
);
CREATE INDEX collections_created_by ON collections(created_by);
CREATE TABLE containers (
	id            BIGSERIAL PRIMARY KEY,
	collection_id BIGINT NOT NULL REFERENCES collections(id),
	name          TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	frozen        BOOLEAN NOT NULL DEFAULT false,
	created       BIGINT NOT NULL,
	updated       BIGINT NOT NULL,
	UNIQUE (collection_id, name)
);
CREATE TABLE images (
	id           BIGSERIAL PRIMARY KEY,
	container_id BIGINT NOT NULL REFERENCES containers(id),
	digest       TEXT NOT NULL,
	size         BIGINT NOT NULL DEFAULT 0,
	arch         TEXT NOT NULL DEFAULT '',
	uploaded     BOOLEAN NOT NULL DEFAULT false,
	description  TEXT NOT NULL DEFAULT '',
	signed       BOOLEAN NOT NULL DEFAULT false,
	encrypted    BOOLEAN NOT NULL DEFAULT false,
	labels       JSONB NOT NULL DEFAULT '{}',
	definition   TEXT NOT NULL DEFAULT '',
	sif_created  BIGINT NOT NULL DEFAULT 0,
	pushed_by    BIGINT NOT NULL DEFAULT 0,
	downloads    BIGINT NOT NULL DEFAULT 0,
	created      BIGINT NOT NULL,
	updated      BIGINT NOT NULL,
	UNIQUE (container_id, digest)
);
CREATE INDEX images_digest ON images(digest);
CREATE INDEX images_updated ON images(updated DESC, id DESC);
CREATE TABLE tags (
	container_id BIGINT NOT NULL REFERENCES containers(id),
	arch         TEXT NOT NULL,
	name         TEXT NOT NULL,
	image_id     BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	updated      BIGINT NOT NULL,
	PRIMARY KEY (container_id, arch, name)
);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE shares (
	id         BIGSERIAL PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	image_id   BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	tag        TEXT NOT NULL DEFAULT '',
	created_by BIGINT NOT NULL DEFAULT 0,
	created    BIGINT NOT NULL,
	expires    BIGINT NOT NULL,
	revoked    BOOLEAN NOT NULL DEFAULT false,
	downloads  BIGINT NOT NULL DEFAULT 0,
	last_used  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX shares_creator ON shares(created_by);
CREATE TABLE audit (
	id     BIGSERIAL PRIMARY KEY,
	at     BIGINT NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit(at);
CREATE TABLE ratelimits (
	key  TEXT PRIMARY KEY,
	win  BIGINT NOT NULL,
	hits BIGINT NOT NULL
);
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE uploads (
	id          TEXT PRIMARY KEY,
	image_id    BIGINT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	size        BIGINT NOT NULL,
	part_size   BIGINT NOT NULL DEFAULT 0,
	total_parts INTEGER NOT NULL DEFAULT 0,
	hashed      BIGINT NOT NULL DEFAULT 0,
	hash_state  BYTEA,
	created_by  BIGINT NOT NULL DEFAULT 0,
	created     BIGINT NOT NULL,
	expires     BIGINT NOT NULL
);
CREATE INDEX uploads_image ON uploads(image_id);
CREATE INDEX uploads_expires ON uploads(expires);
`,
	// 2: stars (meta.StarStore).
	`CREATE TABLE stars (
	user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
	PRIMARY KEY (collection_id, user_id)
);`,
	// 3: sregistry-cli secrets, sealed by the registry (meta.SregistrySecret).
	`CREATE TABLE sregistry_secrets (
	user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	sealed  BYTEA NOT NULL,
	created BIGINT NOT NULL
);`,
	// 4: the OCI distribution API: manifests (their bytes), tags of
	// non-SIF content, blobs linked to containers, upload sessions.
	`CREATE TABLE oci_manifests (
	container_id  BIGINT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	digest        TEXT NOT NULL,
	media_type    TEXT NOT NULL,
	body          BYTEA NOT NULL,
	subject       TEXT NOT NULL DEFAULT '',
	artifact_type TEXT NOT NULL DEFAULT '',
	image_id      BIGINT REFERENCES images(id) ON DELETE CASCADE,
	created       BIGINT NOT NULL,
	PRIMARY KEY (container_id, digest)
);
CREATE INDEX oci_manifests_image ON oci_manifests(image_id);
CREATE INDEX oci_manifests_subject ON oci_manifests(container_id, subject);
CREATE TABLE oci_tags (
	container_id BIGINT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	digest       TEXT NOT NULL,
	updated      BIGINT NOT NULL,
	PRIMARY KEY (container_id, name)
);
CREATE TABLE oci_blobs (
	container_id BIGINT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	digest       TEXT NOT NULL,
	key          TEXT NOT NULL,
	size         BIGINT NOT NULL,
	created      BIGINT NOT NULL,
	PRIMARY KEY (container_id, digest)
);
CREATE INDEX oci_blobs_key ON oci_blobs(key);
CREATE TABLE oci_uploads (
	id           TEXT PRIMARY KEY,
	container_id BIGINT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
	size         BIGINT NOT NULL DEFAULT 0,
	hash_state   BYTEA,
	created_by   BIGINT NOT NULL DEFAULT 0,
	created      BIGINT NOT NULL,
	expires      BIGINT NOT NULL
);
CREATE INDEX oci_uploads_expires ON oci_uploads(expires);
`,
}
