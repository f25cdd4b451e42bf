// Package pam checks user names and passwords through PAM, the way login
// and sshd do, so that a Silo next to a cluster accepts the cluster's
// accounts (local, NIS, sssd, Kerberos — whatever the PAM service stacks).
//
// PAM is a C library, so the real provider needs cgo and libpam's headers.
// It is compiled only with the build tag "pam" (go build -tags pam), like
// zot's optional extensions: the default build stays pure Go and needs no
// libpam0g-dev, and its New says how to get PAM support.
package pam

import "github.com/siloreg/silo/internal/auth/provider"

// DefaultService is the PAM service used when Config.Service is empty: its
// rules are read from /etc/pam.d/silo (or ConfDir/silo).
const DefaultService = "silo"

// Config says which PAM service checks the passwords.
type Config struct {
	// Service names the PAM service file; default DefaultService.
	Service string
	// ConfDir, when set, is read instead of /etc/pam.d (pam_start_confdir,
	// Linux-PAM 1.4 and later), so that a test or a packaged deployment
	// can carry its own service file without touching /etc.
	ConfDir string
}

// Provider authenticates through one PAM service. It is safe for
// concurrent use: each Authenticate runs its own PAM transaction.
type Provider struct {
	cfg Config
}

// Name returns "pam", the provider name in every Identity it makes.
func (p *Provider) Name() string { return "pam" }

var _ provider.PasswordProvider = (*Provider)(nil)
