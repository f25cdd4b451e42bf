//go:build !pam || !cgo

package pam

import (
	"context"
	"errors"
	"fmt"

	"github.com/siloreg/silo/internal/auth/provider"
)

// ErrNotBuilt is what New returns in a build without the "pam" tag, so that
// configuring PAM in such a build fails at start-up with the fix in the
// message rather than at the first login.
var ErrNotBuilt = errors.New("pam: built without PAM support: rebuild with -tags pam (needs cgo and libpam0g-dev)")

// New always fails with ErrNotBuilt in this build.
func New(Config) (*Provider, error) { return nil, ErrNotBuilt }

// Authenticate always fails with ErrNotBuilt in this build; New never
// returns a Provider for it to be called on.
func (p *Provider) Authenticate(context.Context, string, string) (*provider.Identity, error) {
	return nil, fmt.Errorf("service %q: %w", p.cfg.Service, ErrNotBuilt)
}
