package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/client"
)

// The online account verbs: they ask the server the CLI is logged in to.

// prompter reads secrets: from the terminal without echo, otherwise one
// line at a time from standard input, so that scripts can pipe them in.
// One reader serves the whole command, since a buffered read of the first
// line may take the second too.
type prompter struct {
	cmd   *cobra.Command
	lines *bufio.Reader
}

func newPrompter(cmd *cobra.Command) *prompter { return &prompter{cmd: cmd} }

// terminal is stdin when it is a terminal a person can type into.
func (p *prompter) terminal() (*os.File, bool) {
	f, ok := p.cmd.InOrStdin().(*os.File)
	return f, ok && isTerminal(f)
}

// secret asks for one secret. Only the line ending is removed: spaces
// may be part of a password.
func (p *prompter) secret(prompt string) (string, error) {
	var s string
	if f, ok := p.terminal(); ok {
		fmt.Fprint(p.cmd.ErrOrStderr(), prompt+": ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(p.cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		s = string(b)
	} else {
		if p.lines == nil {
			p.lines = bufio.NewReader(p.cmd.InOrStdin())
		}
		line, err := p.lines.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		s = strings.TrimRight(line, "\r\n")
	}
	if s == "" {
		return "", fmt.Errorf("%s: nothing given (type it when asked, or pipe one line to standard input)", strings.ToLower(prompt[:1])+prompt[1:])
	}
	return s, nil
}

// newPassword asks for a new password, twice on a terminal so a typo does
// not lock anyone out.
func (p *prompter) newPassword(prompt string) (string, error) {
	pw, err := p.secret(prompt)
	if err != nil {
		return "", err
	}
	if _, ok := p.terminal(); ok {
		again, err := p.secret("Repeat it")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the two passwords differ; nothing changed")
		}
	}
	return pw, nil
}

// online connects to the logged-in server for a verb that needs a token.
func online(cmd *cobra.Command, server, verb string) (*client.Client, error) {
	c, err := connect(cmd, server)
	if err != nil {
		return nil, err
	}
	return c, c.RequireToken(verb)
}

// printJSON prints v indented, for --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// withPasswordLogin adds --user to `silo login`: log in with a password
// and save the token the server returns, the same way a token login is
// saved, so every other verb works the same afterwards.
func withPasswordLogin(cmd *cobra.Command) *cobra.Command {
	var name string
	cmd.Flags().StringVar(&name, "user", "", "log in as this user with a password (asked for, or one line of standard input) instead of a token")
	cmd.Long += `

With --user NAME, log in with NAME's password instead: it is asked for
(without echo on a terminal; otherwise one line is read from standard input)
and exchanged for a new token, valid for 30 days, which is what is saved. The
password itself is never saved.`
	cmd.Example += "\n  silo login https://silo.example.org --user alice"
	tokenLogin := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if name == "" {
			return tokenLogin(cmd, args)
		}
		if cmd.Flags().Changed("token-file") {
			return errors.New("give --user (log in with a password) or --token-file, not both")
		}
		server, _ := cmd.Flags().GetString("server")
		if len(args) == 1 {
			server = args[0]
		}
		if server == "" {
			server = envOr("SILO_SERVER", "")
		}
		if server == "" {
			return errors.New("give the server's URL: silo login http://127.0.0.1:8080 --user " + name)
		}
		server, err := client.NormalizeServer(server)
		if err != nil {
			return err
		}
		pw, err := newPrompter(cmd).secret("Password for " + name + " at " + server)
		if err != nil {
			return err
		}
		c, err := client.New(client.Config{Server: server, UserAgent: "silo/" + version})
		if err != nil {
			return err
		}
		res, err := c.Login(cmd.Context(), name, pw)
		if err != nil {
			return fmt.Errorf("login failed, nothing saved: %w", err)
		}
		path, err := (&client.Saved{Server: server, Token: res.Token}).Save()
		if err != nil {
			return fmt.Errorf("saving the login: %w", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as %s (saved in %s; the token expires %s)\n", server, res.User.Name, path, localTime(res.Expires))
		return nil
	}
	return cmd
}

func newUserListCmd() *cobra.Command {
	var server string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List accounts (admins)",
		Long:    "List every account with its role, whether it is disabled, where it comes from\n(local, or the provider that made it) and its quota.\n" + envHelp,
		Example: "  silo user list\n  silo user list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := online(cmd, server, "user list")
			if err != nil {
				return err
			}
			us, err := c.Users(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, silo.UserList{Users: us})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tSOURCE\tPASSWORD\tQUOTA\tEMAIL\tCREATED")
			for _, u := range us {
				status, pw, quota := "enabled", "no", "default"
				if u.Disabled {
					status = "disabled"
				}
				if u.HasPassword {
					pw = "yes"
				}
				if u.QuotaBytes > 0 {
					quota = humanBytes(u.QuotaBytes)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, status, u.Source, pw, quota, orDash(u.Email), localTime(u.Created))
			}
			return tw.Flush()
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the accounts as JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newUserSetCmd() *cobra.Command {
	var server, role, email, quota string
	var disable, enable bool
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Change an account's role, e-mail, quota, or disable it (admins)",
		Long: `Change an account. Only the flags given change. Disabling an account stops its
tokens at once and refuses its logins; enabling it lets them work again. The
quota is in bytes (or 10GiB, 500MB, ...); 0 means the registry's default.
Users may change their own e-mail address; the rest needs an admin. The
last enabled admin cannot be demoted or disabled.` + "\n" + envHelp,
		Example: "  silo user set alice --role manager\n  silo user set bob --disable\n  silo user set carol --quota 50GiB --email carol@example.org",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p silo.UserPatch
			f := cmd.Flags()
			if f.Changed("role") {
				p.Role = &role
			}
			if f.Changed("email") {
				p.Email = &email
			}
			if f.Changed("quota") {
				n, err := humanize.ParseBytes(quota)
				if err != nil || n > 1<<62 {
					return fmt.Errorf("--quota %q: give bytes, e.g. 10737418240 or 10GiB", quota)
				}
				q := int64(n)
				p.QuotaBytes = &q
			}
			switch {
			case disable && enable:
				return errors.New("give --disable or --enable, not both")
			case disable || enable:
				p.Disabled = &disable
			}
			if p == (silo.UserPatch{}) {
				return errors.New("nothing to change: give --role, --email, --quota, --disable or --enable")
			}
			c, err := online(cmd, server, "user set")
			if err != nil {
				return err
			}
			u, err := c.UpdateUser(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			status := "enabled"
			if u.Disabled {
				status = "disabled"
			}
			quota := "default quota"
			if u.QuotaBytes > 0 {
				quota = "quota " + humanBytes(u.QuotaBytes)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %s, %s, e-mail %s\n", u.Name, u.Role, status, quota, orDash(u.Email))
			return err
		},
	}
	serverFlag(cmd, &server)
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "admin, manager or user")
	f.StringVar(&email, "email", "", "e-mail address (\"\" to remove it)")
	f.StringVar(&quota, "quota", "", "bytes the user's collections may hold (10GiB, ...); 0 for the registry default")
	f.BoolVar(&disable, "disable", false, "stop the account from logging in and its tokens from working")
	f.BoolVar(&enable, "enable", false, "let a disabled account log in again")
	return cmd
}

func newUserPasswdCmd() *cobra.Command {
	var server string
	var data backend.Config
	cmd := &cobra.Command{
		Use:   "passwd [NAME]",
		Short: "Change your password, or (admins) anyone's",
		Long: `Set a password. Without NAME it is yours: you are asked for your current one
first, if you have one, then the new one. Admins may give NAME to set anyone's
without theirs. Passwords are asked for without echo on a terminal (the new
one twice); otherwise each is one line of standard input, the current one
first. Accounts from LDAP or PAM change their password there.

With --data (or --db/--store), NAME's password is set offline, on the
registry's stores: the
operator's way to give the first admin a password.` + "\n" + envHelp,
		Example: "  silo user passwd\n  silo user passwd alice\n  printf '%s\\n' \"$PW\" | silo user passwd admin --data /srv/silo",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := newPrompter(cmd)
			if offlineChosen(cmd) {
				if len(args) != 1 {
					return errors.New("name the account whose password to set offline: silo user passwd NAME --data DIR")
				}
				pw, err := p.newPassword("New password for " + args[0])
				if err != nil {
					return err
				}
				o, err := openOffline(cmd.Context(), data)
				if err != nil {
					return err
				}
				defer o.Close()
				if err := o.reg.SetPassword(cmd.Context(), o.op, args[0], "", pw); err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "password set for %s\n", args[0])
				return err
			}
			c, err := online(cmd, server, "user passwd")
			if err != nil {
				return err
			}
			me, err := c.Me(cmd.Context())
			if err != nil {
				return err
			}
			name := me.Name
			if len(args) == 1 {
				name = args[0]
			}
			var patch silo.UserPatch
			if name == me.Name && me.HasPassword {
				old, err := p.secret("Current password")
				if err != nil {
					return err
				}
				patch.OldPassword = &old
			}
			pw, err := p.newPassword("New password for " + name)
			if err != nil {
				return err
			}
			patch.Password = &pw
			if _, err := c.UpdateUser(cmd.Context(), name, patch); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "password set for %s\n", name)
			return err
		},
	}
	serverFlag(cmd, &server)
	dataFlag(cmd, &data)
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var server, forUser string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your API tokens",
		Long: `List your API tokens, newest first: id, name, scopes, when each was made, when it
expires, when it was last used (to the minute) and whether it still works.
Revoked and expired tokens stay listed. Admins may list another user's with --user.` + "\n" + envHelp,
		Example: "  silo token list\n  silo token list --user alice --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := online(cmd, server, "token list")
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context(), forUser)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, silo.TokenList{Tokens: ts})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
			for _, t := range ts {
				scopes := strings.Join(t.Scopes, ",")
				if scopes == "" {
					scopes = "all"
				}
				status := "active"
				switch {
				case t.Revoked:
					status = "revoked"
				case t.Expired:
					status = "expired"
				}
				if t.Current {
					status += " (in use now)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, scopes, localTime(t.Created), orNever(t.Expires), localTime(t.LastUsed), status)
			}
			return tw.Flush()
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&forUser, "user", "", "list this user's tokens instead (admins)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the tokens as JSON")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Stop an API token working",
		Long: `Revoke the token with this id ('silo token list' shows ids): it stops working at
once, everywhere. Revoking the token this program is logged in with logs it out.
Admins may revoke anyone's.` + "\n" + envHelp,
		Example: "  silo token revoke 12",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a token id: 'silo token list' shows them", args[0])
			}
			c, err := online(cmd, server, "token revoke")
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked token %d\n", id)
			return err
		},
	}
	serverFlag(cmd, &server)
	return cmd
}

func newAuditCmd() *cobra.Command {
	var server, actor, action, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log (admins)",
		Long: `Show the audit log, newest first: who pushed, deleted, froze, shared, changed
an account or a token, logged in or failed to, when, and from which address.
It never holds passwords or tokens. Offline commands appear as local:<login>.

--since takes a look-back such as 24h or 7d; --actor and --action match
exactly (actions: push, delete, freeze, share, login, login-failed,
token-create, token-revoke, user-create, user-update, user-disable, ...).` + "\n" + envHelp,
		Example: "  silo audit --since 24h\n  silo audit --action login-failed --json\n  silo audit --actor alice --limit 20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := client.AuditQuery{Actor: actor, Action: action, Limit: limit}
			var err error
			if q.Since, err = silo.ParseDuration(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			c, err := online(cmd, server, "audit")
			if err != nil {
				return err
			}
			evs, err := c.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, silo.AuditList{Events: evs})
			}
			if len(evs) == 0 {
				_, err := fmt.Fprintln(out, "no events")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tTARGET\tFROM\tDETAIL")
			for _, e := range evs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Actor, e.Action, orDash(e.Target), orDash(e.Remote), e.Detail)
			}
			return tw.Flush()
		},
	}
	serverFlag(cmd, &server)
	f := cmd.Flags()
	f.StringVar(&actor, "actor", "", "only events by this user (or anonymous, local:<login>)")
	f.StringVar(&action, "action", "", "only this action, e.g. login-failed")
	f.StringVar(&since, "since", "", "only events this recent: 24h, 7d, ...")
	f.IntVar(&limit, "limit", 0, "at most this many events (default 100, at most 10000)")
	f.BoolVar(&asJSON, "json", false, "print the events as JSON")
	return cmd
}
