package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/client"
)

// isTerminal reports whether v (stdin or stderr) is a terminal. Progress
// bars and prompts depend on it; it is a variable so tests can pretend.
var isTerminal = func(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// addClientCommands adds the client verbs (login, push, pull, ...).
func addClientCommands(root *cobra.Command) {
	root.AddCommand(withPasswordLogin(newLoginCmd()), newPushCmd(), newPullCmd(), newSearchCmd(), newLsCmd(), newDeleteCmd(), newShareCmd(), newAuditCmd())
	root.AddCommand(teamCommands()...)
}

// serverFlag adds --server to a client verb. It is per verb rather than
// global so that `silo serve --help` does not offer a flag it ignores.
func serverFlag(cmd *cobra.Command, server *string) {
	cmd.Flags().StringVar(server, "server", "", "server URL, instead of the one saved by 'silo login' (env SILO_SERVER)")
}

const envHelp = `
The server is --server, else $SILO_SERVER, else the one saved by 'silo login';
the token is $SILO_TOKEN, else the saved one (sent only to the server it was
saved for). So CI can push in one line:
  SILO_SERVER=https://silo.example.org SILO_TOKEN=... silo push x.sif c/n:tag`

// connect builds a client from the flag, the environment and the saved
// login, in that order of precedence.
func connect(cmd *cobra.Command, server string) (*client.Client, error) {
	if server == "" {
		server = envOr("SILO_SERVER", "")
	}
	token := envOr("SILO_TOKEN", "")
	// The saved login is read only when something is missing, so that a
	// CI job with both variables set never depends on a config file.
	var saved *client.Saved
	if server == "" || token == "" {
		var err error
		if saved, err = client.LoadSaved(); err != nil {
			return nil, err
		}
	}
	if server == "" && saved != nil {
		server = saved.Server
	}
	if server == "" {
		return nil, errors.New("not logged in to any server: run `silo login URL` first (or give --server / set SILO_SERVER)")
	}
	server, err := client.NormalizeServer(server)
	if err != nil {
		return nil, err
	}
	// The saved token goes only to the server it was issued by, never to
	// whatever --server or SILO_SERVER points at today.
	if token == "" && saved != nil && saved.Server == server {
		token = saved.Token
	}
	return client.New(client.Config{
		Server: server, Token: token, Progress: progressTo(cmd), UserAgent: "silo/" + version,
	})
}

// progressTo is where progress bars go: stderr, and only when a person is
// watching it; scripts and CI logs get nothing but the result lines.
func progressTo(cmd *cobra.Command) io.Writer {
	if w := cmd.ErrOrStderr(); isTerminal(w) {
		return w
	}
	return nil
}

func newLoginCmd() *cobra.Command {
	var server, tokenFile string
	cmd := &cobra.Command{
		Use:   "login [URL]",
		Short: "Save a server and an API token for the other verbs",
		Long: `Check an API token against a server and save both, readable only by you,
in the user config directory (~/.config/silo/config.json on Linux).

The token is read from --token-file, else $SILO_TOKEN, else asked for (without
echo on a terminal; otherwise one line is read from standard input). Get one
from the server's operator ('silo token create NAME').`,
		Example: "  silo login http://127.0.0.1:8080\n  silo login https://silo.example.org --token-file ~/silo.token\n  silo token create alice | silo login http://127.0.0.1:8080",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				server = args[0]
			}
			if server == "" {
				server = envOr("SILO_SERVER", "")
			}
			if server == "" {
				return errors.New("give the server's URL: silo login http://127.0.0.1:8080")
			}
			server, err := client.NormalizeServer(server)
			if err != nil {
				return err
			}
			token, err := readToken(cmd, server, tokenFile)
			if err != nil {
				return err
			}
			c, err := client.New(client.Config{Server: server, Token: token, UserAgent: "silo/" + version})
			if err != nil {
				return err
			}
			user, err := c.TokenStatus(cmd.Context())
			if err != nil {
				return fmt.Errorf("login failed, nothing saved: %w", err)
			}
			path, err := (&client.Saved{Server: server, Token: token}).Save()
			if err != nil {
				return fmt.Errorf("saving the login: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s as %s (saved in %s)\n", server, user, path)
			return nil
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "read the token from this file")
	return cmd
}

// readToken finds the token login checks: file, environment, or prompt.
func readToken(cmd *cobra.Command, server, file string) (string, error) {
	var tok string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		tok = string(b)
	case os.Getenv("SILO_TOKEN") != "":
		tok = os.Getenv("SILO_TOKEN")
	default:
		in := cmd.InOrStdin()
		if f, ok := in.(*os.File); ok && isTerminal(f) {
			fmt.Fprintf(cmd.ErrOrStderr(), "API token for %s: ", server)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return "", err
			}
			tok = string(b)
		} else {
			line, err := bufio.NewReader(in).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			tok = line
		}
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", errors.New("no token given: pass --token-file, set SILO_TOKEN, or type it when asked")
	}
	return tok, nil
}

func newPushCmd() *cobra.Command {
	var server, description string
	cmd := &cobra.Command{
		Use:   "push FILE NAME",
		Short: "Upload a SIF image",
		Long: `Upload a SIF image under NAME: collection/container[:tags] (under the server's
default entity) or entity/collection/container[:tags]. Several tags are
separated by commas; with none, the tag is 'latest'. The architecture is the
one the image declares.` + "\n" + envHelp,
		Example: "  silo push bwa.sif tools/bwa:0.7.17\n  silo push bwa.sif alice/tools/bwa:0.7.17,latest",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			p, err := c.Push(cmd.Context(), args[0], args[1], description)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s:%s (%s, %s, sha256.%s)\n",
				p.Name, strings.Join(p.Tags, ","), p.Arch, humanBytes(p.Size), p.Digest)
			return nil
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&description, "description", "", "a description of the image")
	return cmd
}

func newPullCmd() *cobra.Command {
	var server string
	var o client.PullOptions
	cmd := &cobra.Command{
		Use:   "pull NAME",
		Short: "Download an image",
		Long: `Download an image by tag (NAME[:tag], default 'latest') or by version
(NAME@sha256.<hex>, or NAME:sha256.<hex>). The file is written only once its
sha256 is checked; an existing file is kept unless --force.` + "\n" + envHelp,
		Example: "  silo pull tools/bwa:0.7.17\n  silo pull tools/bwa@sha256.<hex> -o bwa.sif",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			p, err := c.Pull(cmd.Context(), args[0], o)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: add --force to overwrite it", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s@sha256.%s (%s, %s) to %s\n",
				p.Name, p.Digest, p.Arch, humanBytes(p.Size), p.Path)
			return nil
		},
	}
	serverFlag(cmd, &server)
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output", "o", "", "file (or existing directory) to write; default <container>_<tag>.sif here")
	f.BoolVarP(&o.Force, "force", "F", false, "overwrite an existing file")
	f.StringVar(&o.Arch, "arch", runtime.GOARCH, "architecture of the image to pull by tag")
	return cmd
}

func newSearchCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:     "search TEXT",
		Short:   "Find images by name, tag, description or label",
		Long:    "Find images whose names, tags, description or labels contain TEXT (at least 3 characters).\n" + envHelp,
		Example: "  silo search bwa",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			rows, err := c.Search(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no images match %q\n", args[0])
				return nil
			}
			return printTable(cmd.OutOrStdout(), rows)
		},
	}
	serverFlag(cmd, &server)
	return cmd
}

func newDeleteCmd() *cobra.Command {
	var server, arch string
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an image and every tag pointing at it",
		Long: `Delete the image NAME names (NAME[:tag] or NAME@sha256.<hex>), and with it
every tag pointing at it. Bytes still used by another name stay.

On a terminal it asks first, unless --force (-F); from a script, --force is
required.` + "\n" + envHelp,
		Example: "  silo delete tools/bwa:0.7.17\n  silo delete -F tools/bwa@sha256.<hex>",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			if err := c.RequireToken("delete"); err != nil {
				return err
			}
			im, err := c.Image(cmd.Context(), args[0], arch)
			if err != nil {
				return err
			}
			desc := fmt.Sprintf("%s@sha256.%s (%s, %s, tags: %s)", im.Name, im.Digest, im.Arch, humanBytes(im.Size), tagList(im.Tags))
			if !force {
				ok, err := confirm(cmd, "Delete "+desc+"?")
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(cmd.OutOrStdout(), "not deleted")
					return nil
				}
			}
			// By version, so what goes is exactly what was shown.
			if err := c.Delete(cmd.Context(), im.Name+"@sha256."+im.Digest, im.Arch); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "deleted "+desc)
			return nil
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().BoolVarP(&force, "force", "F", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&arch, "arch", runtime.GOARCH, "architecture of the image to delete by tag")
	return cmd
}

// confirm asks a yes/no question on the terminal; without one it refuses,
// so a script never deletes because of a stray "y" on its stdin.
func confirm(cmd *cobra.Command, question string) (bool, error) {
	in := cmd.InOrStdin()
	if !isTerminal(in) {
		return false, errors.New("standard input is not a terminal, so nobody can confirm: add --force (-F) to delete without asking")
	}
	fmt.Fprint(cmd.ErrOrStderr(), question+" [y/N] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}

func newLsCmd() *cobra.Command {
	var server string
	var asJSON, oci bool
	cmd := &cobra.Command{
		Use:   "ls [FILTER]",
		Short: "List images with their sizes",
		Long: `List the images you may see, with a totals line: how many, their total size,
and the bytes the server stores for them (identical images are stored once).

FILTER is a collection (in any entity), entity/collection, or a full
entity/collection/container name. --json prints the server's JSON.

--oci CONTAINER lists the container's other OCI content instead: Docker and
OCI images, Helm charts and artifacts pushed with docker, oras or regctl
(tag, digest, type, size, and how many signatures/SBOMs refer to it).` + "\n" + envHelp,
		Example: "  silo ls\n  silo ls tools\n  silo ls alice/tools --json\n  silo ls --oci alice/tools/web",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if oci {
				if len(args) != 1 {
					return fmt.Errorf("--oci needs a container: silo ls --oci [entity/][collection/]container")
				}
				return lsOCI(cmd, server, args[0], asJSON)
			}
			var f client.ListFilter
			if len(args) == 1 {
				var err error
				if f, err = client.ListFilterFor(args[0]); err != nil {
					return err
				}
			}
			c, err := connect(cmd, server)
			if err != nil {
				return err
			}
			list, err := c.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, list)
			}
			if len(list.Images) > 0 {
				if err := printTable(out, list.Images); err != nil {
					return err
				}
			}
			t := list.Totals
			noun := "images"
			if t.Images == 1 {
				noun = "image"
			}
			_, err = fmt.Fprintf(out, "%d %s, %s (%s stored)\n", t.Images, noun, humanBytes(t.Bytes), humanBytes(t.StoredBytes))
			return err
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the listing as JSON")
	cmd.Flags().BoolVar(&oci, "oci", false, "list a container's OCI content that is not a SIF image (images, charts, artifacts)")
	return cmd
}

// lsOCI prints a container's non-SIF OCI tags.
func lsOCI(cmd *cobra.Command, server, name string, asJSON bool) error {
	c, err := connect(cmd, server)
	if err != nil {
		return err
	}
	list, err := c.OCIContent(cmd.Context(), name)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		return printJSON(out, list)
	}
	if len(list.Artifacts) == 0 {
		_, err := fmt.Fprintf(out, "%s holds no OCI content besides SIF images\n", list.Name)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tTYPE\tSIZE\tREFERRERS\tPUSHED")
	for _, a := range list.Artifacts {
		typ := a.ArtifactType
		if typ == "" {
			typ = a.MediaType
		}
		fmt.Fprintf(tw, "%s:%s\t%s\t%s\t%s\t%d\t%s\n", list.Name, a.Tag, a.Digest, typ, humanBytes(a.Size), a.Referrers, localTime(a.Updated))
	}
	return tw.Flush()
}

// printTable prints images one per line, aligned, for people to read.
func printTable(w io.Writer, rows []silo.Image) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTAGS\tARCH\tSIZE\tPUSHED")
	for _, r := range rows {
		tags := strings.Join(r.Tags, ",")
		if tags == "" {
			tags = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, tags, r.Arch, humanBytes(r.Size), pushedAt(r.Created))
	}
	return tw.Flush()
}

// pushedAt shows an RFC 3339 time as a local date and minute.
func pushedAt(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04")
}

// humanBytes is a size in binary units, as du -h and ls -lh print them.
func humanBytes(n int64) string {
	if n < 0 {
		n = 0
	}
	return humanize.IBytes(uint64(n))
}
