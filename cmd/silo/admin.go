package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
)

// dataFlag adds --data to an offline command, which works on the data
// directory directly (the server may be running: SQLite allows both).
func dataFlag(cmd *cobra.Command, data *string) {
	cmd.Flags().StringVar(data, "data", envOr("SILO_DATA", "silo-data"), "data directory of the registry (env SILO_DATA)")
}

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage accounts (offline, on the data directory)"}
	var data, email, role string
	var admin bool
	add := &cobra.Command{
		Use:     "add NAME",
		Short:   "Create an account",
		Long:    "Create an account. Its name is also its entity: the user may push to NAME/collection/container.\nGive it a token with 'silo token create NAME'.",
		Example: "  silo user add alice --email alice@example.org\n  silo user add bob --admin",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := server.OpenStores(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer m.Close()
			if admin {
				role = meta.RoleAdmin
			}
			u, err := auth.CreateUser(cmd.Context(), m, args[0], email, role)
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
	cmd.AddCommand(add)
	return cmd
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens (offline, on the data directory)"}
	var data, name string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create USER",
		Short: "Create an API token and print it",
		Long: `Create an API token for USER and print it, alone, on standard output.
Only its hash is stored: it cannot be shown again.

Use it with 'silo login', 'apptainer remote login', or as a Bearer token.`,
		Example: "  silo token create alice > alice.token\n  apptainer remote login --tokenfile alice.token silo",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := server.OpenStores(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer m.Close()
			var exp time.Time
			if expires > 0 {
				exp = time.Now().Add(expires)
			}
			tok, err := auth.IssueToken(cmd.Context(), m, args[0], name, exp)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	dataFlag(create, &data)
	create.Flags().StringVar(&name, "name", "cli", "a name to recognise the token by")
	create.Flags().DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h; 0 for no expiry")
	cmd.AddCommand(create)
	return cmd
}

func newGCCmd() *cobra.Command {
	var data string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove unused image bytes and abandoned uploads (offline, safe while serving)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, b, err := server.OpenStores(cmd.Context(), data)
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
