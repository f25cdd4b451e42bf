package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/siloreg/silo/internal/auth/ldap"
	"github.com/siloreg/silo/internal/auth/oidc"
	"github.com/siloreg/silo/internal/auth/pam"
	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/ref"
)

// OIDCProvider is one OpenID Connect provider and Silo's registration
// with it.
type OIDCProvider struct {
	// Name appears in the login URLs (/auth/oidc/<name>/...), on the login
	// pages and, as "oidc:<name>", as the source of the accounts it makes.
	// It must be a valid Silo name (lower-case letters, digits, ". _ -"),
	// and it must not change once people have logged in: their accounts
	// are linked to it.
	Name string
	// Issuer is the provider's issuer URL, where discovery starts.
	Issuer string
	// ClientID and ClientSecret are Silo's registration at the provider.
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback URL registered at the provider; default
	// <PublicURL>/auth/oidc/<Name>/callback.
	RedirectURL string
	// UsernameClaim and GroupsClaim name the ID token claims read for the
	// user name and the groups; defaults oidc.DefaultUsernameClaim and
	// oidc.DefaultGroupsClaim.
	UsernameClaim string
	GroupsClaim   string
}

// passwordProviders builds the password providers cfg turns on: LDAP first,
// then PAM, in the order the registry asks them. A provider that cannot be
// built is a start-up error, so that a typo or a build without PAM stops
// `silo serve` at once instead of failing every login later.
func passwordProviders(cfg Config) ([]provider.PasswordProvider, error) {
	var out []provider.PasswordProvider
	if cfg.LDAP.URL != "" {
		p, err := ldap.New(cfg.LDAP)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	} else if cfg.LDAP.BindDN != "" || cfg.LDAP.UserBase != "" || cfg.LDAP.GroupBase != "" || cfg.LDAP.StartTLS || cfg.LDAP.CAFile != "" {
		// Settings without a URL would be ignored in silence; the
		// operator plainly meant to use a directory.
		return nil, fmt.Errorf("LDAP settings given without the directory's URL (--ldap-url, SILO_LDAP_URL)")
	}
	if cfg.PAM.Service != "" {
		p, err := pam.New(cfg.PAM)
		if err != nil {
			return nil, fmt.Errorf("PAM service %q: %w", cfg.PAM.Service, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// providerNames are the password providers' names as the login pages show
// them ("LDAP", "PAM").
func providerNames(ps []provider.PasswordProvider) []string {
	var out []string
	for _, p := range ps {
		out = append(out, strings.ToUpper(p.Name()))
	}
	return out
}

// oidcProviders builds the OIDC providers by name, fetching each one's
// discovery document, so that a wrong issuer is a start-up error. stateKey
// signs their state cookies.
func oidcProviders(ctx context.Context, cfg Config, stateKey []byte) (map[string]*oidc.Provider, error) {
	out := map[string]*oidc.Provider{}
	for _, o := range cfg.OIDC {
		if err := ref.ValidName(o.Name); err != nil {
			return nil, fmt.Errorf("OIDC provider name %q: %w", o.Name, err)
		}
		if _, dup := out[o.Name]; dup {
			return nil, fmt.Errorf("two OIDC providers are called %q", o.Name)
		}
		redirect := o.RedirectURL
		if redirect == "" {
			if cfg.PublicURL == "" {
				// The provider must be told the callback URL in advance,
				// so it cannot come from each request's Host.
				return nil, fmt.Errorf("OIDC provider %q: set the public URL (--url) or its redirect URL, which must be registered at the provider", o.Name)
			}
			redirect = strings.TrimRight(cfg.PublicURL, "/") + "/auth/oidc/" + o.Name + "/callback"
		}
		p, err := oidc.New(ctx, oidc.Config{
			Name: o.Name, Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
			RedirectURL: redirect, UsernameClaim: o.UsernameClaim, GroupsClaim: o.GroupsClaim,
			StateKey: stateKey,
		})
		if err != nil {
			return nil, err
		}
		out[o.Name] = p
	}
	return out, nil
}

// deriveKey returns a key for one purpose made from the registry-wide
// signing key: HMAC-SHA256 over the purpose's name. Every node derives the
// same key, yet a MAC made with it (an OIDC state cookie) can never pass
// for one made with the signing key itself (a signed URL) or for another
// purpose's, and knowing a derived key reveals nothing of the others.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("silo derived key\x00" + purpose))
	return m.Sum(nil)
}
