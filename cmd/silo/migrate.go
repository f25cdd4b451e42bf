package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/backend"
)

func newMigrateCmd() *cobra.Command {
	var data backend.Config
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the metadata database's schema up to date, then exit",
		Long: `Bring the metadata database's schema up to date, then exit.

'silo serve' does the same at start, so this is never required; it lets a
deployment upgrade the schema in one step before it starts (or rolls) its
nodes. Migrations run in one transaction under a lock: several nodes or
several 'silo migrate' starting together apply each migration once. The
blob store is opened too, which checks its URL.`,
		Example: "  silo migrate --db postgres://silo@db.example.org/silo\n  SILO_DB=postgres://silo@db.example.org/silo silo migrate",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := backend.Open(cmd.Context(), data)
			if err != nil {
				return err
			}
			if err := m.Close(); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "the metadata schema is up to date")
			return err
		},
	}
	dataFlag(cmd, &data)
	return cmd
}
