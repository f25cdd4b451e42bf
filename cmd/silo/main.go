// Command silo is the Silo registry server and its client: `silo serve`
// runs a registry; the other verbs push, pull, find and manage images on
// one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "silo:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "silo",
		Short: "Silo: a registry for Singularity/Apptainer (SIF) container images",
		Long: `Silo is a registry for Singularity/Apptainer (SIF) container images.

Run one with 'silo serve', then push and pull with apptainer or singularity
(library://), or with this program's own verbs.

Names are [entity/]collection/container[:tag][@version]; the version is the
image's content digest, sha256.<hex>. A two-part name collection/container
lives under the server's default entity.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newImportCmd(), newSregistrySecretCmd())
	root.AddCommand(newServeCmd(), newUserCmd(), newTokenCmd(), newGCCmd(), newFsckCmd(), newMigrateCmd())
	root.AddCommand(newCopyCmd())
	addClientCommands(root)
	root.AddCommand(newDuCmd())
	return root
}

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
