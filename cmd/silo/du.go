package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/client"
)

// duGroups are what `silo du --by` may sum by.
var duGroups = []string{"collection", "container", "user", "team"}

func newDuCmd() *cobra.Command {
	var by, sortBy string
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Show storage per collection, container, user or team, and what deduplication saves",
		Long: `Show what the images you may see take: the total, what storing identical
bytes once saves, and a table per collection (or container, user, team).
SIZE counts every image; STORED counts identical bytes once, as the disk
does. Users and teams are the owners quotas charge. The web interface's
storage page shows the same numbers.`,
		Example: "  silo du\n  silo du --by container --sort name\n  silo du --by all",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().StringVar(&by, "by", "collection", "collection, container, user, team, or all")
	cmd.Flags().StringVar(&sortBy, "sort", "stored", "stored, size, images or name")
	return withConnection(cmd, func(cmd *cobra.Command, c *client.Client, args []string) error {
		groups := []string{by}
		if by == "all" {
			groups = duGroups
		} else if !slices.Contains(duGroups, by) {
			return fmt.Errorf("--by %q: give collection, container, user, team or all", by)
		}
		if !slices.Contains([]string{"stored", "size", "images", "name"}, sortBy) {
			return fmt.Errorf("--sort %q: give stored, size, images or name", sortBy)
		}
		u, err := c.Storage(cmd.Context())
		if err != nil {
			return err
		}
		if u.Storage == nil {
			return fmt.Errorf("the server sent no storage summary: it may be older than this client")
		}
		return printDu(cmd.OutOrStdout(), u.Storage, groups, sortBy)
	})
}

func printDu(w io.Writer, s *silo.Storage, groups []string, sortBy string) error {
	fmt.Fprintf(w, "total: %d images, %s stored (%s without deduplication; %s saved)\n",
		s.Total.Images, humanBytes(s.Total.Stored), humanBytes(s.Total.Bytes), humanBytes(s.SavedBytes))
	for _, g := range groups {
		var rows []silo.StorageRow
		switch g {
		case "collection":
			rows = s.Collections
		case "container":
			rows = s.Containers
		case "user":
			rows = s.Users
		case "team":
			rows = s.Teams
		}
		sort.SliceStable(rows, func(i, j int) bool {
			a, b := rows[i], rows[j]
			switch sortBy {
			case "name":
				return a.Name < b.Name
			case "size":
				return a.Bytes > b.Bytes
			case "images":
				return a.Images > b.Images
			}
			return a.Stored > b.Stored
		})
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tIMAGES\tSIZE\tSTORED\n", strings.ToUpper(g))
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Name, r.Images, humanBytes(r.Bytes), humanBytes(r.Stored))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
