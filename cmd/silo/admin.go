package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// The account verbs come in two kinds. Offline ones (`silo user add`,
// `silo token create USER`, anything with --data) open the data directory
// directly: the operator's way in before anyone can log in, and what
// scripts that set a server up use. Online ones talk to the server the
// CLI is logged in to, as the logged-in user. Both go through the same
// registry rules, and both are audited.

// dataFlag adds --data, --db and --store to an offline command, which
// works on the registry's stores directly (the server may be running:
// SQLite, PostgreSQL and S3 all allow that). The flags and their variables
// are those of `silo serve`, so a command run with the server's environment
// finds the server's stores.
func dataFlag(cmd *cobra.Command, data *backend.Config) {
	f := cmd.Flags()
	f.StringVar(&data.Data, "data", envOr("SILO_DATA", "silo-data"), "data directory of the registry (env SILO_DATA)")
	f.StringVar(&data.DB, "db", envOr("SILO_DB", ""), "metadata database: empty for SQLite in the data directory, or postgres://USER@HOST/DB (env SILO_DB)")
	f.StringVar(&data.Store, "store", envOr("SILO_STORE", ""), "blob store: empty for files in the data directory, or s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true (env SILO_STORE)")
}

// offlineChosen reports whether a verb that works both ways was pointed
// at stores on the command line, which makes it work offline.
func offlineChosen(cmd *cobra.Command) bool {
	f := cmd.Flags()
	return f.Changed("data") || f.Changed("db") || f.Changed("store")
}

// offline is a registry opened on a data directory, and the operator
// running the command, as the audit log names them.
type offline struct {
	reg *registry.Registry
	op  access.Actor
	m   meta.Store
}

// openOffline opens the registry in data for an offline command.
func openOffline(ctx context.Context, data backend.Config) (*offline, error) {
	m, b, err := backend.Open(ctx, data)
	if err != nil {
		return nil, err
	}
	// The shared entity's name matters here only to keep new accounts
	// from taking it; the server's own setting comes from the same variable.
	d := ref.Defaults{Entity: envOr("SILO_DEFAULT_ENTITY", "default"), Collection: envOr("SILO_DEFAULT_COLLECTION", "default")}
	reg := registry.New(registry.Config{Meta: m, Blobs: b, Defaults: d})
	return &offline{reg: reg, op: registry.Operator(localUser()), m: m}, nil
}

func (o *offline) Close() error { return o.m.Close() }

// localUser is who runs this command on this machine, for the audit log.
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown"
}

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts",
		Long: `Manage accounts. 'silo user add' works offline, on the data directory; the
other verbs ask the server you are logged in to ('silo login'), and all but
'passwd' for yourself need an admin.

Roles: admin (everything), manager (may create collections and manage teams)
and user. A disabled account can neither log in nor use its tokens.`,
	}
	cmd.AddCommand(newUserAddCmd(), newUserListCmd(), newUserSetCmd(), newUserPasswdCmd())
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var email, role string
	var data backend.Config
	var admin, password bool
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an account (offline, on the data directory)",
		Long: `Create an account. Its name is also its entity: the user may push to NAME/collection/container.
Give it a token with 'silo token create NAME', or a password with --password
(asked for twice on a terminal; otherwise one line of standard input), which
'silo login URL --user NAME' and the web pages take.`,
		Example: "  silo user add alice --email alice@example.org\n  silo user add bob --admin\n  echo \"$PASSWORD\" | silo user add carol --password",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nu := registry.NewUser{Name: args[0], Email: email, Role: role}
			if admin {
				nu.Role = meta.RoleAdmin
			}
			if password {
				var err error
				if nu.Password, err = newPrompter(cmd).newPassword("Password for " + args[0]); err != nil {
					return err
				}
			}
			o, err := openOffline(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer o.Close()
			u, err := o.reg.CreateUser(cmd.Context(), o.op, nu)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s %s\n", u.Role, u.Name)
			return nil
		},
	}
	dataFlag(add, &data)
	add.Flags().StringVar(&email, "email", "", "e-mail address")
	add.Flags().BoolVar(&admin, "admin", false, "make the account an administrator (same as --role admin)")
	add.Flags().StringVar(&role, "role", meta.RoleUser, "admin (everything), manager (may create collections and manage teams) or user")
	add.Flags().BoolVar(&password, "password", false, "give the account a password (asked for, or one line of standard input)")
	return add
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens",
		Long: `Manage API tokens: secrets that apptainer ('remote login'), oras, sregistry-cli,
curl and this program send instead of a password. Each has a name, optional
scopes (read: pull and search; push: also push, delete, share; admin:
everything its admin user may) and an optional expiry. The server keeps only
a hash: a token is shown once, when it is made.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var name, expires, server string
	var data backend.Config
	var scopes []string
	create := &cobra.Command{
		Use:   "create [USER]",
		Short: "Create an API token and print it",
		Long: `Create an API token and print it, alone, on standard output.
Only its hash is stored: it cannot be shown again.

Without USER, the token is yours, made by the server you are logged in to;
--scope narrows what it may do (a CI job that only pulls needs read), and
only admins may ask for admin. With USER, it is made offline, on the data
directory (--data), for that account: the operator's way to hand out the
first tokens.

Use it with 'silo login', 'apptainer remote login', or as a Bearer token.`,
		Example: "  silo token create --name ci --scope read,push --expires 90d\n  silo token create alice > alice.token\n  apptainer remote login --tokenfile alice.token silo",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ttl, err := silo.ParseDuration(expires)
			if err != nil {
				return fmt.Errorf("--expires: %w", err)
			}
			var secret string
			if len(args) == 1 {
				if cmd.Flags().Changed("server") {
					return errors.New("a token for USER is made offline, on the data directory: drop --server, or drop USER to make one for yourself on the server")
				}
				o, err := openOffline(cmd.Context(), data)
				if err != nil {
					return err
				}
				defer o.Close()
				nt, err := o.reg.CreateToken(cmd.Context(), o.op, registry.TokenSpec{User: args[0], Name: name, Scopes: scopes, TTL: ttl})
				if err != nil {
					return err
				}
				secret = nt.Secret
			} else {
				if offlineChosen(cmd) {
					return errors.New("--data, --db and --store make a token offline: name the user it is for (silo token create USER --data DIR)")
				}
				c, err := connect(cmd, server)
				if err != nil {
					return err
				}
				if err := c.RequireToken("token create"); err != nil {
					return err
				}
				nt, err := c.CreateToken(cmd.Context(), name, scopes, ttl)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "token %d %q for %s: %s, expires %s\n", nt.ID, nt.Name, nt.User, scopeList(nt.Scopes), orNever(nt.Expires))
				secret = nt.Secret
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), secret)
			return err
		},
	}
	dataFlag(create, &data)
	serverFlag(create, &server)
	create.Flags().StringVar(&name, "name", "cli", "a name to recognise the token by")
	create.Flags().StringVar(&expires, "expires", "0", "lifetime, e.g. 720h or 30d; 0 for no expiry")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "what the token may do: read, push, admin (comma-separated); default everything the user may")
	return create
}

// scopeList shows a token's scopes; none means everything the user may.
func scopeList(scopes []string) string {
	if len(scopes) == 0 {
		return "all scopes"
	}
	return "scopes " + strings.Join(scopes, ",")
}

// orNever shows an expiry time, or "never" for none.
func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return localTime(t)
}

// localTime shows a time as a local date and minute, "-" for none.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func newGCCmd() *cobra.Command {
	var data backend.Config
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove unused image bytes and abandoned uploads (offline, safe while serving)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, b, err := backend.Open(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer m.Close()
			reg := registry.New(registry.Config{Meta: m, Blobs: b})
			rep, err := reg.GC(cmd.Context(), grace)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d uploads, %d unfinished images, %d blobs (%d bytes)\n",
				rep.Uploads, rep.Images, rep.Blobs, rep.BytesFreed)
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().DurationVar(&grace, "grace", 24*time.Hour, "leave anything younger than this")
	return cmd
}
