package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/client"
)

// teamCommands are the verbs for teams, collection ownership and privacy,
// freezing, the registry's settings and quotas.
func teamCommands() []*cobra.Command {
	return []*cobra.Command{newTeamCmd(), newCollectionCmd(), newFreezeCmd(true), newFreezeCmd(false),
		newSettingsCmd(), newUsageCmd()}
}

// connectedVerb is a client command's body: it runs with a connected client.
type connectedVerb func(cmd *cobra.Command, c *client.Client, args []string) error

// withConnection adds --server to cmd and runs verb with a client connected
// the way every client verb connects.
func withConnection(cmd *cobra.Command, verb connectedVerb) *cobra.Command {
	var server string
	serverFlag(cmd, &server)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := connect(cmd, server)
		if err != nil {
			return err
		}
		return verb(cmd, c, args)
	}
	return cmd
}

func newTeamCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "team",
		Short: "Create teams and manage their members",
		Long: `A team is a group of users that owns collections: its members may push to
them, its owners manage the team. A team's name is also its entity, so its
members push to TEAM/collection/container. Managers and admins create teams.`,
	}
	var description string
	create := withConnection(&cobra.Command{
		Use:     "create NAME",
		Short:   "Create a team, with you as its first owner (managers and admins)",
		Example: "  silo team create lab --description 'The Smith lab'",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, c *client.Client, args []string) error {
		t, err := c.CreateTeam(cmd.Context(), args[0], description)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created team %s; its members push to %s/COLLECTION/CONTAINER\n", t.Name, t.Name)
		return nil
	})
	create.Flags().StringVar(&description, "description", "", "what the team is")

	var owner bool
	add := withConnection(&cobra.Command{
		Use:   "add TEAM USER",
		Short: "Add a user to a team, or change whether they own it",
		Long: `Add USER to TEAM as a member (may push to the team's collections) or, with
--owner, as an owner (may also manage the team). For someone already in the
team it sets just that: 'add lab bob' makes an owner bob a plain member.`,
		Example: "  silo team add lab bob\n  silo team add lab carol --owner",
		Args:    cobra.ExactArgs(2),
	}, func(cmd *cobra.Command, c *client.Client, args []string) error {
		t, err := c.AddMember(cmd.Context(), args[0], args[1], owner)
		if err != nil {
			return err
		}
		role := "a member"
		if owner {
			role = "an owner"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s is %s of team %s (%s)\n", args[1], role, t.Name, memberList(t.Members))
		return nil
	})
	add.Flags().BoolVar(&owner, "owner", false, "make the user an owner of the team")

	remove := withConnection(&cobra.Command{
		Use:     "remove TEAM USER",
		Short:   "Take a user out of a team",
		Example: "  silo team remove lab bob",
		Args:    cobra.ExactArgs(2),
	}, func(cmd *cobra.Command, c *client.Client, args []string) error {
		t, err := c.RemoveMember(cmd.Context(), args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s is no longer in team %s (%s)\n", args[1], t.Name, memberList(t.Members))
		return nil
	})

	list := withConnection(&cobra.Command{
		Use:   "list",
		Short: "List the teams and their members",
		Args:  cobra.NoArgs,
	}, func(cmd *cobra.Command, c *client.Client, args []string) error {
		ts, err := c.Teams(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if len(ts) == 0 {
			fmt.Fprintln(out, "no teams")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TEAM\tMEMBERS (*: OWNER)\tDESCRIPTION")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, memberList(t.Members), t.Description)
		}
		return tw.Flush()
	})
	cmd.AddCommand(create, add, remove, list)
	return cmd
}

// memberList shows members by name, owners marked with a *.
func memberList(ms []silo.TeamMember) string {
	if len(ms) == 0 {
		return "no members"
	}
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		n := m.Name
		if m.Owner {
			n += "*"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

func newCollectionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "collection",
		Short: "Make a collection private or public, or give it to a team",
		Long: `NAME is a collection (under the server's default entity) or entity/collection.
A private collection is seen only by its owners, its team and admins; to
everyone else it does not exist. Its owners are whoever created it, the owner
of its entity, and the owners of its team.`,
	}
	visibility := func(private bool) *cobra.Command {
		use, short := "public NAME", "Let everyone see a collection"
		if private {
			use, short = "private NAME", "Hide a collection from everyone but its owners, its team and admins"
		}
		return withConnection(&cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1)},
			func(cmd *cobra.Command, c *client.Client, args []string) error {
				col, err := c.ChangeCollection(cmd.Context(), args[0], silo.CollectionChange{Private: &private})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s\n", col.Name, visibilityWord(col.Private))
				return nil
			})
	}
	give := withConnection(&cobra.Command{
		Use:   "give NAME TEAM",
		Short: "Give a collection to a team you are in",
		Long: `Give a collection to TEAM: its members may then push to it, and its images
count against the team's quota instead of yours.`,
		Example: "  silo collection give tools lab\n  silo collection give alice/tools lab",
		Args:    cobra.ExactArgs(2),
	}, func(cmd *cobra.Command, c *client.Client, args []string) error {
		team := args[1]
		col, err := c.ChangeCollection(cmd.Context(), args[0], silo.CollectionChange{Team: &team})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s now belongs to team %s\n", col.Name, col.Team)
		return nil
	})
	cmd.AddCommand(visibility(true), visibility(false), give)
	return cmd
}

func visibilityWord(private bool) string {
	if private {
		return "private"
	}
	return "public"
}

func newFreezeCmd(frozen bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "freeze NAME",
		Short:   "Freeze a container: its tags cannot move and its images cannot be deleted",
		Long:    "Freeze a container (NAME is [entity/]collection/container): until it is unfrozen,\nits tags cannot be moved to other images and its images cannot be deleted.",
		Example: "  silo freeze tools/bwa",
		Args:    cobra.ExactArgs(1),
	}
	if !frozen {
		cmd.Use, cmd.Short, cmd.Example = "unfreeze NAME", "Unfreeze a container", "  silo unfreeze tools/bwa"
		cmd.Long = "Unfreeze a container (NAME is [entity/]collection/container): its tags may\nmove and its images may be deleted again."
	}
	return withConnection(cmd, func(cmd *cobra.Command, c *client.Client, args []string) error {
		f, err := c.SetFrozen(cmd.Context(), args[0], frozen)
		if err != nil {
			return err
		}
		state := "frozen"
		if !f.Frozen {
			state = "unfrozen"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s is %s\n", f.Name, state)
		return nil
	})
}

func newSettingsCmd() *cobra.Command {
	var privateMode, managersOnly, defaultPrivate bool
	var collectionLimit int
	var userQuota, teamQuota string
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Show or change the registry's settings (admins)",
		Long: `Show the registry-wide settings, or change the ones given as flags and show
them all. Quotas are sizes such as 10GiB or 500MB; 0 means no limit.`,
		Example: "  silo settings\n  silo settings --private-mode=true\n  silo settings --user-quota 10GiB --collection-limit 20",
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.BoolVar(&privateMode, "private-mode", false, "hide everything, names included, from anyone not logged in")
	f.BoolVar(&managersOnly, "managers-only", false, "only managers and admins create collections")
	f.BoolVar(&defaultPrivate, "default-private", false, "make new collections private")
	f.IntVar(&collectionLimit, "collection-limit", 0, "collections a plain user may create; 0 for no limit")
	f.StringVar(&userQuota, "user-quota", "", "bytes a user's collections may hold, e.g. 10GiB; 0 for no limit")
	f.StringVar(&teamQuota, "team-quota", "", "bytes a team's collections may hold, e.g. 100GiB; 0 for no limit")
	return withConnection(cmd, func(cmd *cobra.Command, c *client.Client, args []string) error {
		var ch silo.SettingsChange
		changed := false
		fl := cmd.Flags()
		for name, dst := range map[string]**bool{"private-mode": &ch.PrivateMode, "managers-only": &ch.ManagersOnly, "default-private": &ch.DefaultPrivate} {
			if fl.Changed(name) {
				v, _ := fl.GetBool(name)
				*dst, changed = &v, true
			}
		}
		if fl.Changed("collection-limit") {
			ch.CollectionLimit, changed = &collectionLimit, true
		}
		for name, q := range map[string]struct {
			val string
			dst **int64
		}{"user-quota": {userQuota, &ch.UserQuota}, "team-quota": {teamQuota, &ch.TeamQuota}} {
			if !fl.Changed(name) {
				continue
			}
			n, err := parseQuota(q.val)
			if err != nil {
				return fmt.Errorf("--%s: %w", name, err)
			}
			*q.dst, changed = &n, true
		}
		var s *silo.Settings
		var err error
		if changed {
			s, err = c.ChangeSettings(cmd.Context(), ch)
		} else {
			s, err = c.Settings(cmd.Context())
		}
		if err != nil {
			return err
		}
		return printSettings(cmd.OutOrStdout(), s)
	})
}

// parseQuota reads a size such as 10GiB, 500MB or 1048576.
func parseQuota(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: write e.g. 10GiB, 500MB or 0", s)
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(n), nil
}

func printSettings(w io.Writer, s *silo.Settings) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	limit := func(n int64, show func(int64) string) string {
		if n == 0 {
			return "no limit"
		}
		return show(n)
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	fmt.Fprintf(tw, "private-mode\t%t\n", s.PrivateMode)
	fmt.Fprintf(tw, "managers-only\t%t\n", s.ManagersOnly)
	fmt.Fprintf(tw, "default-private\t%t\n", s.DefaultPrivate)
	fmt.Fprintf(tw, "collection-limit\t%s\n", limit(int64(s.CollectionLimit), count))
	fmt.Fprintf(tw, "user-quota\t%s\n", limit(s.UserQuota, humanBytes))
	fmt.Fprintf(tw, "team-quota\t%s\n", limit(s.TeamQuota, humanBytes))
	return tw.Flush()
}

func newUsageCmd() *cobra.Command {
	return withConnection(&cobra.Command{
		Use:   "usage",
		Short: "Show what your images and your teams' take, against your quotas",
		Long: `Show the bytes your collections hold, and those of the teams you are in,
against each quota. An image stored under several names counts once.`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, c *client.Client, args []string) error {
		u, err := c.Usage(cmd.Context())
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OWNER\tUSED\tQUOTA")
		row := func(name string, q silo.Quota) {
			quota := "no limit"
			if q.QuotaBytes > 0 {
				quota = humanBytes(q.QuotaBytes)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, humanBytes(q.UsedBytes), quota)
		}
		row(u.User.Name, u.User)
		for _, t := range u.Teams {
			row("team "+t.Name, t)
		}
		return tw.Flush()
	})
}
