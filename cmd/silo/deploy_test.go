package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// deployFiles are the deployment examples: what people copy and run.
var deployFiles = []string{
	"../../docs/deploy.md",
	"../../Dockerfile",
	"../../deploy/silo.service",
	"../../deploy/silo.env",
	"../../deploy/nginx.conf",
	"../../deploy/Caddyfile",
	"../../deploy/kubernetes.yaml",
}

// knownEnv collects every SILO_* variable the commands' help mentions.
func knownEnv(c *cobra.Command, into map[string]bool) {
	re := regexp.MustCompile(`SILO_[A-Z_]+[A-Z]`)
	for _, s := range re.FindAllString(c.Long, -1) {
		into[s] = true
	}
	c.Flags().VisitAll(func(f *pflag.Flag) {
		for _, s := range re.FindAllString(f.Usage, -1) {
			into[s] = true
		}
	})
	for _, sub := range c.Commands() {
		knownEnv(sub, into)
	}
}

// TestDeployExamples keeps the deployment examples true to the program:
// every `silo VERB --flag` they show exists, and every SILO_* variable
// they set is one silo reads.
func TestDeployExamples(t *testing.T) {
	root := newRoot()
	env := map[string]bool{"SILO_SERVER": true, "SILO_TOKEN": true} // the client's, read outside cobra
	knownEnv(root, env)
	envRE := regexp.MustCompile(`SILO_[A-Z_]+[A-Z]`)
	argsRE := regexp.MustCompile(`(?:args|CMD):? \["([a-z]+)"`)
	checked := 0
	for _, path := range deployFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (the deployment examples moved? update deployFiles)", err)
		}
		name := filepath.Base(path)
		text := strings.ReplaceAll(string(b), "\\\n", " ") // join continued shell lines
		for _, v := range envRE.FindAllString(text, -1) {
			if !env[v] {
				t.Errorf("%s: %s is not a variable silo reads", name, v)
			}
		}
		for _, m := range argsRE.FindAllStringSubmatch(text, -1) {
			if c, _, err := root.Find([]string{m[1]}); err != nil || c == root {
				t.Errorf("%s: %q is not a silo verb", name, m[1])
			}
		}
		for _, line := range strings.Split(text, "\n") {
			toks := strings.Fields(line)
			for i, tok := range toks {
				if tok != "silo" && !strings.HasSuffix(tok, "/silo") {
					continue
				}
				c, rest, err := root.Find(toks[i+1:])
				if err != nil || c == root {
					continue // not a verb: an image name, a user name, a path
				}
				checked++
				for _, a := range rest {
					if a == "|" || a == "&&" || a == ";" || a == "#" {
						break
					}
					if !strings.HasPrefix(a, "--") || a == "--help" {
						continue
					}
					flag, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
					flag = strings.Trim(flag, "`'\")")
					if c.Flags().Lookup(flag) == nil && c.InheritedFlags().Lookup(flag) == nil {
						t.Errorf("%s: `%s` has no flag --%s (line: %s)", name, c.CommandPath(), flag, strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("found only %d silo commands in the examples: is the parser broken?", checked)
	}
}
