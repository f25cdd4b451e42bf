package registry

import (
	"context"
	"time"

	"github.com/siloreg/silo/internal/auth/provider"
)

// SessionTTL is how long a web session lasts. A session is an ordinary
// API token, so that any node sharing the store knows it and logging out
// is revoking it; the short life bounds what a cookie left in a shared
// browser is worth.
const SessionTTL = 12 * time.Hour

// SessionPrefix starts the name of every web session's token, so that
// token listings tell sessions from tokens made on purpose.
const SessionPrefix = "web session"

// loginToken describes the token a login issues.
type loginToken struct {
	prefix string // the name, before the time of the login
	ttl    time.Duration
}

// apiLogin is the token `silo login --user` and the OIDC token page get.
var apiLogin = loginToken{prefix: "login", ttl: LoginTokenTTL}

// webSession is the token behind a web session.
var webSession = loginToken{prefix: SessionPrefix, ttl: SessionTTL}

// SessionLogin is Login for the web pages: the same password check,
// providers and audit, but the token is a session's (SessionPrefix,
// SessionTTL).
func (r *Registry) SessionLogin(ctx context.Context, username, password, remote string) (*LoginResult, error) {
	return r.login(ctx, username, password, remote, webSession)
}

// ProviderSession is ProviderLogin for the web pages: an OpenID Connect
// login that ends in a web session rather than on the token page.
func (r *Registry) ProviderSession(ctx context.Context, id *provider.Identity, remote string) (*LoginResult, error) {
	return r.providerLogin(ctx, id, remote, webSession)
}
