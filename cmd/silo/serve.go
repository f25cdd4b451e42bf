package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/server"
)

func newServeCmd() *cobra.Command {
	var cfg server.Config
	var maxSize, partSize int64
	ociRedirect := true
	var af authFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a registry server",
		Long: `Run a registry server.

With no flags it listens on 127.0.0.1:8080 (this machine only) and keeps
everything under ./silo-data: the metadata in an SQLite database and the
images as files. On first start it creates an 'admin' account and writes
its API token to <data>/admin.token.

Every flag can also be set with the environment variable named in its help.

Authentication providers. Besides Silo's own accounts, people can log in with
the password of an LDAP directory (--ldap-url and friends) or of a PAM service
(--pam-service; needs a build with -tags pam), and in a browser through an
OpenID Connect provider (--oidc-issuer and friends), which ends on a page
showing a new API token. Passwords are checked against local accounts first,
then LDAP, then PAM. An account is made for each provider user at their first
login. Each of their groups named like an existing team makes them a member of
that team; leaving the group takes the membership away again at their next
login (memberships given in Silo are never taken away). Secrets are read from
files or the environment, never from the command line, where any user of the
machine could read them.

Scale-out. By default one process keeps everything in --data. To run any
number of identical nodes behind a load balancer, point them all at one
PostgreSQL database (--db postgres://USER@HOST/DB) and one S3 bucket
(--store s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true; the
credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an AWS
profile or a role, never from the URL). Each node applies pending schema
migrations at start (under a lock, so nodes starting together are safe), or
run 'silo migrate' first. --data then holds only the first admin's token.
With S3, pushes and pulls go straight between the clients and the bucket
through short-lived presigned URLs, handed out after the usual access checks
(--blob-access redirect, the default); if clients cannot reach the bucket,
--blob-access proxy passes the bytes through Silo instead.`,
		Example: `  silo serve
  silo serve --listen 0.0.0.0:8080 --data /srv/silo --url https://silo.example.org
  silo serve --listen 0.0.0.0:8080 --url https://silo.example.org \
    --db postgres://silo@db.example.org/silo \
    --store 's3://silo-images/prod?endpoint=https://s3.example.org&path-style=true'
  silo serve --url https://silo.example.org --ldap-url ldaps://ldap.example.org \
    --ldap-bind-dn cn=silo,ou=services,dc=example,dc=org --ldap-bind-password-file /etc/silo/ldap.pw \
    --ldap-user-base ou=people,dc=example,dc=org --ldap-group-base ou=groups,dc=example,dc=org
  silo serve --url https://silo.example.org --oidc-name keycloak \
    --oidc-issuer https://sso.example.org/realms/lab --oidc-client-id silo \
    --oidc-client-secret-file /etc/silo/oidc.secret`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := limitFromEnv(cmd, "rate-limit-ip", "SILO_RATE_LIMIT_IP", &cfg.RateLimitIP); err != nil {
				return err
			}
			if err := limitFromEnv(cmd, "rate-limit-token", "SILO_RATE_LIMIT_TOKEN", &cfg.RateLimitToken); err != nil {
				return err
			}
			if err := af.apply(cmd, &cfg); err != nil {
				return err
			}
			cfg.MaxImageSize = maxSize
			cfg.PartSize = partSize
			cfg.NoOCIRedirect = !ociRedirect
			cfg.Version = version
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			srv, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			cfg.Log.Info("silo serving", "url", "http://"+ln.Addr().String(), "stores", cfg.Backend().String(), "version", version)
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", envOr("SILO_LISTEN", "127.0.0.1:8080"), "address to listen on; 0.0.0.0:PORT for every interface (env SILO_LISTEN)")
	f.StringVar(&cfg.Data, "data", envOr("SILO_DATA", "silo-data"), "data directory: metadata database and image files, unless --db and --store put them elsewhere; the first admin's token (env SILO_DATA)")
	f.StringVar(&cfg.DB, "db", envOr("SILO_DB", ""), "metadata database: empty for SQLite in the data directory, or postgres://USER[:PASSWORD]@HOST[:PORT]/DB shared by every node (env SILO_DB)")
	f.StringVar(&cfg.Store, "store", envOr("SILO_STORE", ""), "blob store: empty for files in the data directory, or s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true] shared by every node; credentials from the AWS environment (env SILO_STORE)")
	f.StringVar(&cfg.BlobAccess, "blob-access", envOr("SILO_BLOB_ACCESS", ""), "how image bytes travel with an S3 store: redirect (clients fetch and send them from and to the bucket through presigned URLs) or proxy (through Silo, for buckets clients cannot reach); default redirect with S3, proxy with files (env SILO_BLOB_ACCESS)")
	f.StringVar(&cfg.PublicURL, "url", envOr("SILO_URL", ""), "public base URL clients use, e.g. behind a proxy; default: the Host of each request (env SILO_URL)")
	f.StringVar(&cfg.DefaultEntity, "default-entity", envOr("SILO_DEFAULT_ENTITY", "default"), "entity that two-part names (collection/container) live under (env SILO_DEFAULT_ENTITY)")
	f.StringVar(&cfg.DefaultCollection, "default-collection", envOr("SILO_DEFAULT_COLLECTION", "default"), "collection that one-part names live under (env SILO_DEFAULT_COLLECTION)")
	f.Int64Var(&maxSize, "max-image-size", 0, "refuse images larger than this many bytes; 0 for no limit")
	f.Int64Var(&partSize, "part-size", 64<<20, "part size offered to clients for multipart uploads, in bytes")
	f.DurationVar(&cfg.GCInterval, "gc-interval", time.Hour, "how often to remove unused bytes and abandoned uploads; negative to never")
	f.DurationVar(&cfg.GCGrace, "gc-grace", 24*time.Hour, "leave anything younger than this to garbage collection")
	f.Int64Var(&cfg.RateLimitIP, "rate-limit-ip", 0, "requests a minute one client address may make (429 beyond); 0 for no limit (env SILO_RATE_LIMIT_IP)")
	f.BoolVar(&ociRedirect, "oci-redirect", true, "send Apptainer's library:// client through the OCI API (/v1/oci-redirect); --oci-redirect=false keeps it on the library API")
	f.Int64Var(&cfg.RateLimitToken, "rate-limit-token", 0, "requests a minute one API token may make (429 beyond); 0 for no limit (env SILO_RATE_LIMIT_TOKEN)")
	af.register(cmd, &cfg)
	return cmd
}

// limitFromEnv fills a rate-limit flag from its environment variable when
// the flag was not given (flags win), and refuses a value that is not a
// count: a typo must not silently turn a limit off.
func limitFromEnv(cmd *cobra.Command, flag, env string, dst *int64) error {
	if v := os.Getenv(env); v != "" && !cmd.Flags().Changed(flag) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s=%q: want a number of requests a minute", env, v)
		}
		*dst = n
	}
	if *dst < 0 {
		return fmt.Errorf("--%s (%s) %d: want 0 (no limit) or more", flag, env, *dst)
	}
	return nil
}
