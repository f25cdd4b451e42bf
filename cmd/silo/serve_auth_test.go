package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/siloreg/silo/internal/auth/ldap/ldaptest"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/server"
)

// parseAuthFlags runs the provider flags of `silo serve` on args, as the
// command does before starting the server.
func parseAuthFlags(t *testing.T, args ...string) (server.Config, error) {
	t.Helper()
	var cfg server.Config
	var af authFlags
	cmd := &cobra.Command{}
	af.register(cmd, &cfg)
	if err := cmd.ParseFlags(args); err != nil {
		return cfg, err
	}
	err := af.apply(cmd, &cfg)
	return cfg, err
}

// clearAuthEnv unsets every SILO_LDAP_*, SILO_PAM_* and SILO_OIDC_*
// variable for the test, so that the machine's own cannot leak in.
func clearAuthEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SILO_LDAP_") || strings.HasPrefix(k, "SILO_PAM_") || strings.HasPrefix(k, "SILO_OIDC_") {
			t.Setenv(k, "")
		}
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthFlags(t *testing.T) {
	clearAuthEnv(t)
	pwFile := writeFile(t, "ldap.pw", "s3cret pw \n")
	secretFile := writeFile(t, "oidc.secret", "client-secret\r\n")

	cfg, err := parseAuthFlags(t, "--ldap-url", "ldaps://ldap.example.org", "--ldap-ca-file", "/ca.pem",
		"--ldap-bind-dn", "cn=silo", "--ldap-bind-password-file", pwFile, "--ldap-user-base", "ou=people",
		"--ldap-user-filter", "(mail=%s)", "--ldap-group-base", "ou=groups", "--ldap-group-filter", "(memberUid=%[2]s)",
		"--pam-service", "silo", "--oidc-name", "sso", "--oidc-issuer", "https://sso.example.org",
		"--oidc-client-id", "silo", "--oidc-client-secret-file", secretFile, "--oidc-groups-claim", "roles")
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.LDAP
	// The file's line break is not part of the password; its spaces are.
	if l.URL != "ldaps://ldap.example.org" || l.CAFile != "/ca.pem" || l.BindDN != "cn=silo" || l.BindPassword != "s3cret pw " ||
		l.UserBase != "ou=people" || l.UserFilter != "(mail=%s)" || l.GroupBase != "ou=groups" || l.GroupFilter != "(memberUid=%[2]s)" || l.StartTLS {
		t.Errorf("LDAP config %+v", l)
	}
	if cfg.PAM.Service != "silo" {
		t.Errorf("PAM config %+v", cfg.PAM)
	}
	if want := (server.OIDCProvider{Name: "sso", Issuer: "https://sso.example.org", ClientID: "silo", ClientSecret: "client-secret", GroupsClaim: "roles"}); len(cfg.OIDC) != 1 || cfg.OIDC[0] != want {
		t.Errorf("OIDC config %+v, want [%+v]", cfg.OIDC, want)
	}

	// The same from the environment, secrets included.
	t.Setenv("SILO_LDAP_URL", "ldap://ldap.example.org")
	t.Setenv("SILO_LDAP_START_TLS", "true")
	t.Setenv("SILO_LDAP_BIND_PASSWORD", "from-env")
	t.Setenv("SILO_OIDC_NAME", "sso")
	t.Setenv("SILO_OIDC_ISSUER", "https://sso.example.org")
	t.Setenv("SILO_OIDC_CLIENT_SECRET", "env-secret")
	cfg, err = parseAuthFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LDAP.URL != "ldap://ldap.example.org" || !cfg.LDAP.StartTLS || cfg.LDAP.BindPassword != "from-env" ||
		len(cfg.OIDC) != 1 || cfg.OIDC[0].ClientSecret != "env-secret" {
		t.Errorf("config from the environment: LDAP %+v, OIDC %+v", cfg.LDAP, cfg.OIDC)
	}

	// A secret given two ways is refused rather than guessed at.
	for _, args := range [][]string{
		{"--ldap-bind-password-file", pwFile},
		{"--oidc-client-secret-file", secretFile},
	} {
		if _, err := parseAuthFlags(t, args...); err == nil || !strings.Contains(err.Error(), "give the secret one way") {
			t.Errorf("%v with the variable set too: %v", args, err)
		}
	}
	t.Setenv("SILO_LDAP_START_TLS", "maybe")
	if _, err := parseAuthFlags(t); err == nil || !strings.Contains(err.Error(), "SILO_LDAP_START_TLS") {
		t.Errorf("SILO_LDAP_START_TLS=maybe: %v", err)
	}
}

func TestAuthFlagsRefused(t *testing.T) {
	clearAuthEnv(t)
	empty := writeFile(t, "empty", "\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--oidc-client-id", "silo"}, "without the provider's issuer"},
		{[]string{"--oidc-issuer", "https://sso.example.org"}, "needs --oidc-name"},
		{[]string{"--ldap-bind-password-file", "/nonexistent/pw"}, "--ldap-bind-password-file"},
		{[]string{"--ldap-bind-password-file", empty}, "is empty"},
		// Secrets have no flag that takes their value.
		{[]string{"--ldap-bind-password", "x"}, "unknown flag"},
		{[]string{"--oidc-client-secret", "x"}, "unknown flag"},
	} {
		if _, err := parseAuthFlags(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want an error about %q", tc.args, err, tc.want)
		}
	}
}

// No flag of `silo serve` takes a password or a secret itself: the
// command line is visible to every user of the machine (ps, /proc).
func TestServeFlagsTakeNoSecrets(t *testing.T) {
	newServeCmd().Flags().VisitAll(func(f *pflag.Flag) {
		n := f.Name
		if (strings.Contains(n, "password") || strings.Contains(n, "secret")) && !strings.HasSuffix(n, "-file") {
			t.Errorf("--%s takes a secret on the command line", n)
		}
	})
}

// TestServeLDAP runs the real binary with LDAP configured by flags and
// the environment, the bind password in a file, and logs in through it.
func TestServeLDAP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	clearAuthEnv(t)
	dir := ldaptest.Start(t)
	bin := buildSilo(t)
	pwFile := writeFile(t, "ldap.pw", ldaptest.ReaderPassword+"\n")
	t.Setenv("SILO_LDAP_BIND_DN", ldaptest.ReaderDN)
	url := startNode(t, bin, backendtest.Args(backendtest.Config(t, filepath.Join(t.TempDir(), "data")),
		"--ldap-url", dir.URL, "--ldap-bind-password-file", pwFile,
		"--ldap-user-base", ldaptest.UserBase, "--ldap-group-base", ldaptest.GroupBase)...).url

	body := `{"username":"alice","password":"` + ldaptest.AlicePassword + `"}`
	res, err := http.Post(url+"/api/silo/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The service account's password came from the file: without it
	// the user search would fail and the login would be a 500.
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"source":"ldap"`) {
		t.Fatalf("LDAP login through silo serve: %d %s", res.StatusCode, b)
	}
}
