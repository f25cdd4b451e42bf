package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/auth/ldap"
	"github.com/siloreg/silo/internal/auth/oidc/oidctest"
	"github.com/siloreg/silo/internal/backend/backendtest"
	"github.com/siloreg/silo/internal/server"
)

// Provider settings that cannot work stop the server at start, with a
// message that names the setting, instead of failing every login later.
func TestProviderConfigRefused(t *testing.T) {
	op := oidctest.New(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	good := server.OIDCProvider{Name: "sso", Issuer: op.Issuer, ClientID: op.ClientID}
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"LDAP settings without a URL", server.Config{LDAP: ldap.Config{UserBase: "ou=people,dc=example"}}, "without the directory's URL"},
		{"LDAP URL of another scheme", server.Config{LDAP: ldap.Config{URL: "http://ldap.example.org", UserBase: "ou=people"}}, "ldap: URL"},
		{"LDAP bind DN without a password", server.Config{LDAP: ldap.Config{URL: "ldap://127.0.0.1:1", UserBase: "ou=people", BindDN: "cn=silo"}}, "BindPassword"},
		{"OIDC without a public URL", server.Config{OIDC: []server.OIDCProvider{good}}, "--url"},
		{"OIDC name not a Silo name", server.Config{PublicURL: "https://silo.example.org", OIDC: []server.OIDCProvider{{Name: "My SSO", Issuer: op.Issuer, ClientID: "silo"}}}, "OIDC provider name"},
		{"two OIDC providers of one name", server.Config{PublicURL: "https://silo.example.org", OIDC: []server.OIDCProvider{good, good}}, "two OIDC providers"},
		{"OIDC issuer down", server.Config{PublicURL: "https://silo.example.org", OIDC: []server.OIDCProvider{{Name: "sso", Issuer: dead.URL, ClientID: "silo"}}}, "discovery"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stores := backendtest.Config(t, t.TempDir())
			tc.cfg.Data, tc.cfg.DB, tc.cfg.Store = stores.Data, stores.DB, stores.Store
			s, err := server.New(context.Background(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("New accepted %+v", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want it to mention %q", err, tc.want)
			}
		})
	}
	// An explicit redirect URL needs no public URL.
	ok := good
	ok.RedirectURL = "http://127.0.0.1:1/auth/oidc/sso/callback"
	stores := backendtest.Config(t, t.TempDir())
	s, err := server.New(context.Background(), server.Config{Data: stores.Data, DB: stores.DB, Store: stores.Store, OIDC: []server.OIDCProvider{ok}})
	if err != nil {
		t.Fatalf("New with a redirect URL: %v", err)
	}
	s.Close()
}
