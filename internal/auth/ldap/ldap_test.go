package ldap

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/auth/ldap/ldaptest"
	"github.com/siloreg/silo/internal/auth/provider"
)

// The test directory's names, shorter.
const (
	suffix    = ldaptest.Suffix
	readerDN  = ldaptest.ReaderDN
	alicePass = ldaptest.AlicePassword
	bobPass   = ldaptest.BobPassword
	weirdUID  = ldaptest.WeirdUID
	weirdPass = ldaptest.WeirdPassword
)

// config is what an administrator would write for the test directory.
func config(s *ldaptest.Server) Config {
	return Config{
		URL:          s.URL,
		BindDN:       readerDN,
		BindPassword: ldaptest.ReaderPassword,
		UserBase:     ldaptest.UserBase,
		GroupBase:    ldaptest.GroupBase,
	}
}

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// Provider must satisfy the interface the server uses.
var _ provider.PasswordProvider = (*Provider)(nil)

func TestAuthenticate(t *testing.T) {
	dir := ldaptest.Start(t)
	ctx := context.Background()
	p := mustNew(t, config(dir))

	t.Run("good login with groups of both kinds", func(t *testing.T) {
		id, err := p.Authenticate(ctx, "alice", alicePass)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		want := provider.Identity{
			Provider: "ldap",
			Subject:  "uid=alice,ou=people," + suffix,
			Username: "alice",
			Email:    "alice@silo.test",
			Name:     "Alice Liddell",
		}
		groups := slices.Sorted(slices.Values(id.Groups))
		id.Groups = nil
		if !reflect.DeepEqual(*id, want) {
			t.Errorf("identity = %+v, want %+v", *id, want)
		}
		// physics and admins list her DN (groupOfNames); cluster-users
		// lists her uid (posixGroup); chemistry does not list her.
		if wantGroups := []string{"admins", "cluster-users", "physics"}; !slices.Equal(groups, wantGroups) {
			t.Errorf("groups = %q, want %q", groups, wantGroups)
		}
	})

	t.Run("another user gets their own groups", func(t *testing.T) {
		id, err := p.Authenticate(ctx, "bob", bobPass)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		slices.Sort(id.Groups)
		if !slices.Equal(id.Groups, []string{"chemistry", "physics"}) || id.Email != "" || id.Name != "Bob Builder" {
			t.Errorf("identity = %+v", *id)
		}
	})

	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "not-" + alicePass},
		{"another user's password", "alice", bobPass},
		{"unknown user", "mallory", alicePass},
		// With a DN and no password, a bind is "unauthenticated" and
		// slapd would accept it if it were ever sent.
		{"empty password", "alice", ""},
		{"empty user", "", alicePass},
		// Unescaped, these would match alice (or everyone) and the bind
		// would then be tried against the first entry found.
		{"wildcard user", "*", alicePass},
		{"wildcard prefix", "ali*", alicePass},
		{"filter injection", "alice)(uid=*", alicePass},
		{"filter injection closing", "*)(|(uid=*", alicePass},
		{"filter metacharacters, other password", weirdUID, alicePass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.Authenticate(ctx, tc.user, tc.pass)
			if !errors.Is(err, provider.ErrBadCredentials) {
				t.Fatalf("Authenticate(%q, %q) = %+v, %v; want ErrBadCredentials", tc.user, tc.pass, id, err)
			}
		})
	}

	t.Run("user name made of filter metacharacters logs in as exactly that user", func(t *testing.T) {
		id, err := p.Authenticate(ctx, weirdUID, weirdPass)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		// slapd spells the "=" inside the value as \3D in the DN.
		if id.Subject != `uid=we*ird)(uid\3D*,ou=people,`+suffix || id.Name != "Weird" || id.Username != "we-ird-uid" {
			t.Errorf("identity = %+v", *id)
		}
	})

	t.Run("no group base means no groups", func(t *testing.T) {
		cfg := config(dir)
		cfg.GroupBase = ""
		id, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass)
		if err != nil || len(id.Groups) != 0 {
			t.Fatalf("Authenticate = %+v, %v; want no groups", id, err)
		}
	})

	t.Run("explicit placeholders", func(t *testing.T) {
		cfg := config(dir)
		cfg.UserFilter = "(&(objectClass=inetOrgPerson)(|(uid=%s)(mail=%s)))"
		cfg.GroupFilter = "(memberUid=%[2]s)"
		id, err := mustNew(t, cfg).Authenticate(ctx, "alice@silo.test", alicePass)
		if err != nil {
			t.Fatalf("Authenticate by mail: %v", err)
		}
		if id.Username != "alice" || !slices.Equal(id.Groups, []string{"cluster-users"}) {
			t.Errorf("identity = %+v", *id)
		}
	})

	t.Run("wrong service password is not the user's fault", func(t *testing.T) {
		cfg := config(dir)
		cfg.BindPassword = "wrong"
		_, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass)
		if err == nil || errors.Is(err, provider.ErrBadCredentials) || !strings.Contains(err.Error(), "service account") {
			t.Fatalf("Authenticate = %v; want a service account error", err)
		}
	})

	t.Run("a filter that matches several users is an error, not a login", func(t *testing.T) {
		cfg := config(dir)
		cfg.UserFilter = "(|(uid=%s)(objectClass=inetOrgPerson))"
		_, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass)
		if err == nil || errors.Is(err, provider.ErrBadCredentials) || !strings.Contains(err.Error(), "more than one") {
			t.Fatalf("Authenticate = %v; want an ambiguity error", err)
		}
	})

	t.Run("missing user base", func(t *testing.T) {
		cfg := config(dir)
		cfg.UserBase = "ou=nowhere," + suffix
		_, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass)
		if err == nil || errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want a configuration error", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := p.Authenticate(cctx, "alice", alicePass)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Authenticate = %v; want context.Canceled", err)
		}
	})
}

func TestTLS(t *testing.T) {
	dir := ldaptest.Start(t)
	ctx := context.Background()

	t.Run("ldaps", func(t *testing.T) {
		cfg := config(dir)
		cfg.URL, cfg.CAFile = dir.LDAPSURL, dir.CAFile
		if _, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass); err != nil {
			t.Fatalf("Authenticate over ldaps: %v", err)
		}
	})
	t.Run("StartTLS", func(t *testing.T) {
		cfg := config(dir)
		cfg.StartTLS, cfg.CAFile = true, dir.CAFile
		if _, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass); err != nil {
			t.Fatalf("Authenticate with StartTLS: %v", err)
		}
	})
	t.Run("untrusted certificate is refused", func(t *testing.T) {
		cfg := config(dir)
		cfg.URL = dir.LDAPSURL // system roots do not include the test CA
		_, err := mustNew(t, cfg).Authenticate(ctx, "alice", alicePass)
		if err == nil || errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want a TLS error", err)
		}
	})
}

func TestServerDown(t *testing.T) {
	dir := ldaptest.Start(t)
	p := mustNew(t, config(dir))
	if _, err := p.Authenticate(context.Background(), "alice", alicePass); err != nil {
		t.Fatalf("Authenticate while up: %v", err)
	}
	dir.Stop()
	_, err := p.Authenticate(context.Background(), "alice", alicePass)
	if err == nil || errors.Is(err, provider.ErrBadCredentials) {
		t.Fatalf("Authenticate with the server down = %v; want a connection error", err)
	}
	t.Logf("server down: %v", err)
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := Config{URL: "ldap://127.0.0.1:1", UserBase: "ou=people," + suffix}
	for name, edit := range map[string]func(*Config){
		"no scheme":             func(c *Config) { c.URL = "127.0.0.1:389" },
		"http URL":              func(c *Config) { c.URL = "http://127.0.0.1" },
		"StartTLS on ldaps":     func(c *Config) { c.URL, c.StartTLS = "ldaps://127.0.0.1", true },
		"no user base":          func(c *Config) { c.UserBase = "" },
		"bind DN, no password":  func(c *Config) { c.BindDN = readerDN },
		"user filter no %s":     func(c *Config) { c.UserFilter = "(uid=alice)" },
		"user filter stray %":   func(c *Config) { c.UserFilter = "(uid=%d)" },
		"user filter bad index": func(c *Config) { c.UserFilter = "(uid=%[2]s)" },
		"group filter unclosed": func(c *Config) { c.GroupFilter = "(member=%s" },
		"missing CA file":       func(c *Config) { c.URL, c.CAFile = "ldaps://127.0.0.1", "/nonexistent.pem" },
	} {
		cfg := good
		edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(good); err != nil {
		t.Errorf("New(good) = %v", err)
	}
}

func TestFillFilter(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		want string
		n    int
	}{
		{"(uid=%s)", "(uid=U)", 1},
		{"(|(uid=%s)(mail=%s))", "(|(uid=U)(mail=D))", 2},
		{"(|(a=%s)(b=%s)(c=%s))", "(|(a=U)(b=D)(c=D))", 3},
		{"(memberUid=%[2]s)", "(memberUid=D)", 1},
		{"(&(member=%[1]s)(x=%[2]s))", "(&(member=U)(x=D))", 2},
	} {
		got, n, err := fillFilter(tc.tmpl, "U", "D")
		if err != nil || got != tc.want || n != tc.n {
			t.Errorf("fillFilter(%q) = %q, %d, %v; want %q, %d", tc.tmpl, got, n, err, tc.want, tc.n)
		}
	}
	for _, bad := range []string{"(uid=%)", "(uid=%[0]s)", "(uid=%[3]s)", "(uid=%[1)", "(uid=%%)"} {
		if _, _, err := fillFilter(bad, "U", "D"); err == nil {
			t.Errorf("fillFilter(%q) accepted", bad)
		}
	}
}
