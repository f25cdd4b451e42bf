package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/registry"
)

func newShareCmd() *cobra.Command {
	var server, arch, expires string
	cmd := &cobra.Command{
		Use:   "share NAME",
		Short: "Make a link that lets anyone download one image until it expires",
		Long: `Make an expiring share link to one image you own: anyone who has the link can
download that one image, without an account, with curl -O, wget or
'apptainer pull https://...', until it expires or you revoke it. It grants
nothing else: not the collection, not other tags, not other versions.

NAME is collection/container[:tag] or entity/collection/container[:tag], or a
version (NAME@sha256.<hex>). A link made for a tag keeps giving the image the
tag points at now, even if the tag is moved later. A tag that names images
for several architectures needs --arch. (An image called list or revoke is
shared by a longer name, such as collection/list.)

The link is printed alone on standard output and cannot be shown again; the
server keeps only a hash of it. --expires takes a duration such as 90m, 72h or
7d, at most 30 days. 'silo share list' shows your links and how often each
was used; 'silo share revoke ID' stops one working.` + "\n" + envHelp,
		Example: "  silo share tools/bwa:0.7.17\n  silo share tools/bwa:0.7.17 --expires 7d\n  curl -O \"$(silo share alice/lab/tool:1 --expires 2h)\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			s, err := c.CreateShare(cmd.Context(), args[0], arch, expires)
			if err != nil {
				return err
			}
			// The URL alone on stdout, so that $(silo share ...) is the link;
			// what it grants goes to stderr, for the person running it.
			fmt.Fprintf(cmd.ErrOrStderr(), "link %d: anyone with it can download %s (%s, %s) until %s\n",
				s.ID, shareImage(s.Share), shortVersion(s.Version), humanBytes(s.Size), pushedAt(s.Expires))
			_, err = fmt.Fprintln(cmd.OutOrStdout(), s.URL)
			return err
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&expires, "expires", strings.TrimSuffix(registry.DefaultShareTTL.String(), "0m0s"), "how long the link works: 90m, 72h, 7d, ... (at most 30 days)")
	cmd.Flags().StringVar(&arch, "arch", "", "architecture of the image, when the tag names several")
	cmd.AddCommand(newShareListCmd(), newShareRevokeCmd())
	return cmd
}

func newShareListCmd() *cobra.Command {
	var server string
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your share links and how often each was used",
		Long: `List the share links you made, newest first, with what each grants, until
when, whether it still works, how often it was downloaded and when last.
Revoked and expired links stay listed. Admins see everybody's with --all.` + "\n" + envHelp,
		Example: "  silo share list\n  silo share list --all --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			shares, err := c.Shares(cmd.Context(), all)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, silo.ShareList{Shares: shares})
			}
			if len(shares) == 0 {
				_, err := fmt.Fprintln(out, "no share links")
				return err
			}
			return printShares(out, shares, all)
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().BoolVar(&all, "all", false, "every user's links (admins only)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the links as JSON")
	return cmd
}

func newShareRevokeCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Stop a share link working",
		Long:    "Stop share link ID (from 'silo share list') working, for good. It stays listed, as revoked.\n" + envHelp,
		Example: "  silo share revoke 12",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a share link id: give the number 'silo share list' shows", args[0])
			}
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			s, err := c.RevokeShare(cmd.Context(), id)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked link %d to %s\n", s.ID, shareImage(*s))
			return err
		},
	}
	serverFlag(cmd, &server)
	return cmd
}

// printShares prints links one per line, aligned, for people to read.
func printShares(w io.Writer, shares []silo.Share, withCreator bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "ID\tIMAGE\tVERSION\tEXPIRES\tSTATUS\tDOWNLOADS\tLAST USED"
	if withCreator {
		head += "\tBY"
	}
	fmt.Fprintln(tw, head)
	for _, s := range shares {
		status := "active"
		switch {
		case s.Revoked:
			status = "revoked"
		case !s.Active:
			status = "expired"
		}
		used := "never"
		if s.LastUsed != "" {
			used = pushedAt(s.LastUsed)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s", s.ID, shareImage(s), shortVersion(s.Version), pushedAt(s.Expires), status, s.Downloads, used)
		if withCreator {
			fmt.Fprintf(tw, "\t%s", s.CreatedBy)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// shareImage is what a link was made for: image:tag, or the image alone
// when it was made for a version (which the VERSION column shows).
func shareImage(s silo.Share) string {
	if s.Tag != "" {
		return s.Image + ":" + s.Tag
	}
	return s.Image
}

// shortVersion is sha256.<first 12 hex>, enough to tell versions apart.
func shortVersion(v string) string {
	if hex, ok := strings.CutPrefix(v, "sha256."); ok && len(hex) > 12 {
		return "sha256." + hex[:12]
	}
	return v
}
