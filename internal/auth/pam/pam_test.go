//go:build pam && cgo

package pam

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/auth/provider/providertest"
)

// moduleDirs are where Debian (multiarch) and other distributions keep PAM
// modules.
var moduleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/security", "/lib/x86_64-linux-gnu/security",
	"/usr/lib/aarch64-linux-gnu/security", "/lib/aarch64-linux-gnu/security",
	"/usr/lib64/security", "/lib64/security", "/usr/lib/security", "/lib/security",
}

func findModule(t *testing.T, name string) string {
	t.Helper()
	for _, d := range moduleDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	providertest.Missing(t, "INSTALL libpam-modules: PAM module %s not found in %v", name, moduleDirs)
	return ""
}

// testPAM writes a user database for pam_userdb and PAM service files that
// use it into a temporary confdir, so nothing under /etc changes, and
// returns that confdir.
func testPAM(t *testing.T) string {
	t.Helper()
	userdb := findModule(t, "pam_userdb.so")
	deny := findModule(t, "pam_deny.so")
	echo := findModule(t, "pam_echo.so")
	dbLoad, err := exec.LookPath("db_load")
	if err != nil {
		providertest.Missing(t, "INSTALL db-util: the PAM tests make pam_userdb's database with db_load (apt-get install db-util)")
	}

	dir := t.TempDir()
	// db_load -T reads alternate key and value lines; pam_userdb looks up
	// the user as the key and compares the value with the password
	// (crypt=none: stored in clear, which is fine for a test).
	src := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(src, []byte("alice\nwonderland\nbob\nbuilder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "users") // pam_userdb adds ".db"
	if out, err := exec.Command(dbLoad, "-T", "-t", "hash", "-f", src, db+".db").CombinedOutput(); err != nil {
		t.Fatalf("db_load: %v\n%s", err, out)
	}
	userdbLine := userdb + " db=" + db + " crypt=none"
	services := map[string]string{
		"silo-test": "auth required " + userdbLine + "\naccount required " + userdbLine + "\n",
		// Modules that print messages must not break a login.
		"silo-test-chatty": "auth optional " + echo + " Welcome, %u\n" +
			"auth required " + userdbLine + "\naccount required " + userdbLine + "\n",
		// The password is right but the account may not log in.
		"silo-test-locked": "auth required " + userdbLine + "\naccount required " + deny + "\n",
		// A module that cannot be loaded is the configuration's fault.
		"silo-test-broken": "auth required " + filepath.Join(dir, "pam_missing.so") + "\naccount required " + userdbLine + "\n",
	}
	for name, body := range services {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestAuthenticate(t *testing.T) {
	confDir := testPAM(t)
	ctx := context.Background()
	p := mustNew(t, Config{Service: "silo-test", ConfDir: confDir})

	for _, svc := range []string{"silo-test", "silo-test-chatty"} {
		t.Run("good password/"+svc, func(t *testing.T) {
			id, err := mustNew(t, Config{Service: svc, ConfDir: confDir}).Authenticate(ctx, "alice", "wonderland")
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.Provider != "pam" || id.Subject != "alice" || id.Username != "alice" || len(id.Groups) != 0 {
				t.Errorf("identity = %+v", *id)
			}
		})
	}

	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "not-wonderland"},
		{"another user's password", "alice", "builder"},
		{"unknown user", "mallory", "wonderland"},
		{"empty password", "alice", ""},
		{"empty user", "", "wonderland"},
		// Without the check, C would see "alice" and "wonderland".
		{"NUL in user name", "alice\x00mallory", "wonderland"},
		{"NUL in password", "alice", "wonderland\x00extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.Authenticate(ctx, tc.user, tc.pass)
			if !errors.Is(err, provider.ErrBadCredentials) {
				t.Fatalf("Authenticate(%q, %q) = %+v, %v; want ErrBadCredentials", tc.user, tc.pass, id, err)
			}
		})
	}

	t.Run("account refused after a good password", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: "silo-test-locked", ConfDir: confDir}).Authenticate(ctx, "bob", "builder")
		if !errors.Is(err, provider.ErrAccountDenied) {
			t.Fatalf("Authenticate = %v; want ErrAccountDenied", err)
		}
	})
	t.Run("wrong password on a locked account says only that", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: "silo-test-locked", ConfDir: confDir}).Authenticate(ctx, "bob", "nope")
		if !errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want ErrBadCredentials", err)
		}
	})
	t.Run("broken service file is not the user's fault", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: "silo-test-broken", ConfDir: confDir}).Authenticate(ctx, "alice", "wonderland")
		if err == nil || errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want a configuration error", err)
		}
		t.Logf("broken service: %v", err)
	})
	t.Run("missing service file is not the user's fault", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: "silo-test-absent", ConfDir: confDir}).Authenticate(ctx, "alice", "wonderland")
		if err == nil || errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want a configuration error", err)
		}
		t.Logf("missing service: %v", err)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		// Either the transaction or the cancellation may win the race;
		// what must never happen is a login with a cancelled request
		// being reported as bad credentials.
		id, err := p.Authenticate(cctx, "alice", "wonderland")
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Authenticate = %+v, %v; want success or context.Canceled", id, err)
		}
	})
}

func TestConversation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		style     int
		wantReply bool
		wantOK    bool
	}{
		{"password prompt gets the password", stylePromptEchoOff, true, true},
		{"echo-on prompt is refused", stylePromptEchoOn, false, false},
		{"info needs no answer", styleTextInfo, false, true},
		{"error message needs no answer", styleErrorMsg, false, true},
		{"unknown style is refused", 99, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, has, ok := replyTo(tc.style, "Password: ", "s3cret")
			if ok != tc.wantOK || has != tc.wantReply || (has && reply != "s3cret") {
				t.Errorf("replyTo(%d) = %q, %v, %v; want reply %v, ok %v", tc.style, reply, has, ok, tc.wantReply, tc.wantOK)
			}
		})
	}
}

func TestNewRefusesBadService(t *testing.T) {
	for _, s := range []string{"../etc/passwd", "a/b", "..", "x\x00y"} {
		if _, err := New(Config{Service: s}); err == nil {
			t.Errorf("New accepted service %q", s)
		}
	}
	p, err := New(Config{})
	if err != nil || p.cfg.Service != DefaultService || p.Name() != "pam" {
		t.Errorf("New(Config{}) = %+v, %v", p, err)
	}
	if !strings.Contains(DefaultService, "silo") {
		t.Errorf("DefaultService = %q", DefaultService)
	}
}
