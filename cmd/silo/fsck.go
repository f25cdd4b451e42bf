package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/registry"
)

func newFsckCmd() *cobra.Command {
	var data backend.Config
	var verify bool
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check that every image's bytes are stored intact (offline, safe while serving)",
		Long: `Check that every uploaded image's bytes are in the blob store with the
recorded size; with --verify, also re-read every blob and check it still
hashes to its name. Exits non-zero if anything is wrong. Bytes no image
uses are counted, not wrong: 'silo gc' removes them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, b, err := backend.Open(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer m.Close()
			rep, err := registry.New(registry.Config{Meta: m, Blobs: b}).Fsck(cmd.Context(), verify)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, s := range rep.Missing {
				fmt.Fprintln(out, "missing:", s)
			}
			for _, s := range rep.WrongLen {
				fmt.Fprintln(out, "wrong size:", s)
			}
			for _, s := range rep.Corrupt {
				fmt.Fprintln(out, "corrupt:", s)
			}
			fmt.Fprintf(out, "%d images, %d blobs checked; %d unused blobs\n", rep.Images, rep.Blobs, rep.Unused)
			if !rep.Clean() {
				return errors.New("the registry is not consistent (see above)")
			}
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&verify, "verify", false, "re-hash every blob (reads everything)")
	return cmd
}
