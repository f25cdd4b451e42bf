package sregistry_test

// sregistrySchema is the part of sregistry's database that silo import
// reads, as Django creates it from sregistry's models (shub/apps/users,
// shub/apps/main, shub/apps/api, rest_framework.authtoken): Django's
// default table names (<app>_<model>, <app>_<model>_<m2m field>), an "id"
// serial key per table, "<field>_id" foreign keys.
const sregistrySchema = `
CREATE TABLE users_user (
	id               serial PRIMARY KEY,
	password         varchar(128) NOT NULL,
	last_login       timestamptz NULL,
	is_superuser     boolean NOT NULL,
	username         varchar(150) NOT NULL UNIQUE,
	first_name       varchar(150) NOT NULL,
	last_name        varchar(150) NOT NULL,
	email            varchar(254) NOT NULL,
	is_staff         boolean NOT NULL,
	is_active        boolean NOT NULL,
	date_joined      timestamptz NOT NULL,
	active           boolean NOT NULL,
	agree_terms      boolean NOT NULL,
	agree_terms_date timestamptz NULL
);
CREATE TABLE authtoken_token (
	key     varchar(40) PRIMARY KEY,
	created timestamptz NOT NULL,
	user_id integer NOT NULL UNIQUE REFERENCES users_user(id)
);
CREATE TABLE users_team (
	id         serial PRIMARY KEY,
	name       varchar(250) NOT NULL UNIQUE,
	team_image varchar(100) NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	permission varchar(50) NOT NULL
);
CREATE TABLE users_team_owners (
	id      serial PRIMARY KEY,
	team_id integer NOT NULL REFERENCES users_team(id),
	user_id integer NOT NULL REFERENCES users_user(id),
	UNIQUE (team_id, user_id)
);
CREATE TABLE users_team_members (
	id      serial PRIMARY KEY,
	team_id integer NOT NULL REFERENCES users_team(id),
	user_id integer NOT NULL REFERENCES users_user(id),
	UNIQUE (team_id, user_id)
);
CREATE TABLE api_imagefile (
	id         serial PRIMARY KEY,
	created    timestamptz NOT NULL,
	collection varchar(200) NOT NULL,
	tag        varchar(200) NOT NULL,
	metadata   text NOT NULL,
	name       varchar(200) NOT NULL,
	owner_id   varchar(200) NULL,
	datafile   varchar(255) NOT NULL
);
CREATE TABLE main_collection (
	id          serial PRIMARY KEY,
	name        varchar(250) NOT NULL UNIQUE,
	add_date    timestamptz NOT NULL,
	modify_date timestamptz NOT NULL,
	secret      varchar(200) NOT NULL,
	metadata    jsonb NOT NULL,
	private     boolean NOT NULL
);
CREATE TABLE main_collection_owners (
	id            serial PRIMARY KEY,
	collection_id integer NOT NULL REFERENCES main_collection(id),
	user_id       integer NOT NULL REFERENCES users_user(id),
	UNIQUE (collection_id, user_id)
);
CREATE TABLE main_collection_contributors (
	id            serial PRIMARY KEY,
	collection_id integer NOT NULL REFERENCES main_collection(id),
	user_id       integer NOT NULL REFERENCES users_user(id),
	UNIQUE (collection_id, user_id)
);
CREATE TABLE main_container (
	id            serial PRIMARY KEY,
	add_date      timestamptz NOT NULL,
	collection_id integer NOT NULL REFERENCES main_collection(id),
	image_id      integer NULL REFERENCES api_imagefile(id),
	metadata      jsonb NOT NULL,
	metrics       jsonb NOT NULL,
	name          varchar(250) NOT NULL,
	tag           varchar(250) NOT NULL,
	secret        varchar(250) NULL,
	version       varchar(250) NULL,
	frozen        boolean NOT NULL,
	UNIQUE (name, tag, collection_id)
);
CREATE TABLE main_star (
	id            serial PRIMARY KEY,
	user_id       integer NOT NULL REFERENCES users_user(id),
	collection_id integer NOT NULL REFERENCES main_collection(id),
	UNIQUE (user_id, collection_id)
);
CREATE TABLE main_share (
	id           serial PRIMARY KEY,
	container_id integer NOT NULL REFERENCES main_container(id),
	expire_date  timestamptz NOT NULL,
	secret       varchar(250) NULL,
	UNIQUE (expire_date, container_id)
);
CREATE TABLE main_label (
	id    serial PRIMARY KEY,
	key   varchar(250) NOT NULL,
	value varchar(250) NOT NULL,
	UNIQUE (key, value)
);
CREATE TABLE main_label_containers (
	id           serial PRIMARY KEY,
	label_id     integer NOT NULL REFERENCES main_label(id),
	container_id integer NOT NULL REFERENCES main_container(id),
	UNIQUE (label_id, container_id)
);
`
