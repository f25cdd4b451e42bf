package library_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/server"
)

// TestRemoteLoginAndStatus covers what `remote login` and `remote status`
// ask: the discovery file, /version, token-status and the current user.
func TestRemoteLoginAndStatus(t *testing.T) {
	s := startSilo(t, server.Config{})
	tok := s.User(t, "alice", false)

	t.Run("tokens are 200 to 4096 characters", func(t *testing.T) {
		for _, tk := range []string{tok, s.AdminToken} {
			if n := len(tk); n < 200 || n > 4096 || strings.ContainsAny(tk, " \n\r\t") {
				t.Errorf("token of %d characters %q; `remote login --tokenfile` needs 200-4096 on one line", n, tk)
			}
		}
	})

	t.Run("token-status", func(t *testing.T) {
		for _, scheme := range []string{"Bearer", "BEARER", "bearer"} {
			res := call(t, "GET", s.URL+"/v1/token-status", "", nil, "Authorization", scheme+" "+tok)
			if res.Status != http.StatusOK {
				t.Errorf("%s token: status %d, want 200; body %s", scheme, res.Status, res.Body)
			}
		}
		wantError(t, "bad token", call(t, "GET", s.URL+"/v1/token-status", tok+"x", nil), http.StatusUnauthorized)
		wantError(t, "no token", call(t, "GET", s.URL+"/v1/token-status", "", nil), http.StatusUnauthorized)
		wantError(t, "empty bearer", call(t, "GET", s.URL+"/v1/token-status", "", nil, "Authorization", "Bearer "), http.StatusUnauthorized)
	})

	t.Run("current user", func(t *testing.T) {
		res := call(t, "GET", s.URL+"/v1/rbac/users/current", tok, nil)
		var u map[string]any
		if res.Status != http.StatusOK || json.Unmarshal(res.Body, &u) != nil {
			t.Fatalf("status %d body %s", res.Status, res.Body)
		}
		// Plain JSON, not in the data envelope.
		if u["username"] != "alice" || u["email"] != "alice@example.org" || u["data"] != nil {
			t.Errorf("current user = %s", res.Body)
		}
		wantError(t, "anonymous", call(t, "GET", s.URL+"/v1/rbac/users/current", "", nil), http.StatusUnauthorized)
		wantError(t, "bad token", call(t, "GET", s.URL+"/v1/rbac/users/current", "nonsense", nil), http.StatusUnauthorized)
	})

	t.Run("discovery", func(t *testing.T) {
		res := call(t, "GET", s.URL+"/assets/config/config.prod.json", "", nil)
		var doc map[string]json.RawMessage
		if res.Status != http.StatusOK || json.Unmarshal(res.Body, &doc) != nil {
			t.Fatalf("status %d body %s", res.Status, res.Body)
		}
		for k, v := range doc {
			var obj map[string]any
			if err := json.Unmarshal(v, &obj); err != nil || obj == nil {
				t.Errorf("%s is %s, want an object", k, v)
			}
		}
		for _, svc := range []string{"libraryAPI", "keystoreAPI", "tokenAPI"} {
			var obj struct {
				URI string `json:"uri"`
			}
			if err := json.Unmarshal(doc[svc], &obj); err != nil || obj.URI != s.URL {
				t.Errorf("%s = %s, want uri %s (no trailing slash)", svc, doc[svc], s.URL)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		var v struct {
			Version    string `json:"version"`
			APIVersion string `json:"apiVersion"`
		}
		data(t, "version", call(t, "GET", s.URL+"/version", "", nil), &v)
		if v.Version == "" {
			t.Error("no version")
		}
		if cmp, ok := semverCompare(v.APIVersion, "2.0.0-alpha.2"); !ok || cmp < 0 {
			t.Errorf("apiVersion %q: want strict semver >= 2.0.0-alpha.2", v.APIVersion)
		}
		// And the clients read it the same way.
		eachClient(t, func(t *testing.T, kind string) {
			got, err := newClient(t, kind, s.URL, "", nil).GetVersion(context.Background())
			if err != nil || got != v.APIVersion {
				t.Errorf("client GetVersion = %q, %v", got, err)
			}
		})
	})
}

// semverRE is the regular expression semver.org gives for SemVer 2.0.0.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// semverCompare orders two strict semantic versions by SemVer precedence;
// ok is false when either is not one.
func semverCompare(a, b string) (cmp int, ok bool) {
	ma, mb := semverRE.FindStringSubmatch(a), semverRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return 0, false
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	for i := 1; i <= 3; i++ {
		if x, y := num(ma[i]), num(mb[i]); x != y {
			return sign(x - y), true
		}
	}
	pa, pb := ma[4], mb[4]
	switch {
	case pa == pb:
		return 0, true
	case pa == "": // a release is above its pre-releases
		return 1, true
	case pb == "":
		return -1, true
	}
	fa, fb := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		x, ex := strconv.Atoi(fa[i])
		y, ey := strconv.Atoi(fb[i])
		switch {
		case ex == nil && ey == nil && x != y:
			return sign(x - y), true
		case ex == nil && ey != nil: // numeric identifiers sort first
			return -1, true
		case ex != nil && ey == nil:
			return 1, true
		case ex != nil && fa[i] != fb[i]:
			return strings.Compare(fa[i], fb[i]), true
		}
	}
	return sign(len(fa) - len(fb)), true
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestSemverCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		cmp  int
		ok   bool
	}{
		{"2.0.0-alpha.2", "2.0.0-alpha.2", 0, true},
		{"2.0.0-alpha.10", "2.0.0-alpha.2", 1, true},
		{"2.0.0-alpha.1", "2.0.0-alpha.2", -1, true},
		{"2.0.0", "2.0.0-alpha.2", 1, true},
		{"2.0.0-beta", "2.0.0-alpha.2", 1, true},
		{"2.0.0-alpha", "2.0.0-alpha.2", -1, true},
		{"1.9.9", "2.0.0-alpha.2", -1, true},
		{"10.0.0", "9.0.0", 1, true},
		{"v2.0.0", "2.0.0", 0, false},
		{"2.0", "2.0.0", 0, false},
		{"02.0.0", "2.0.0", 0, false},
		{"", "2.0.0", 0, false},
	} {
		if cmp, ok := semverCompare(tc.a, tc.b); cmp != tc.cmp || ok != tc.ok {
			t.Errorf("semverCompare(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, cmp, ok, tc.cmp, tc.ok)
		}
	}
}
