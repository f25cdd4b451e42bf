// Package ldap checks user names and passwords against an LDAP directory
// (OpenLDAP, 389 DS, Active Directory, ...) the way most directories expect
// an application to: bind as a service account, search for the one entry
// that matches the user name, bind as that entry with the password, then
// search the groups that list it. Group names become Identity.Groups, which
// Silo maps to teams.
//
// Each Authenticate uses a connection of its own, opened and closed within
// the call: logins are rare next to image traffic, and a fresh connection
// means no pool to keep healthy and no bound state leaking between users.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/siloreg/silo/internal/auth/provider"
)

// Defaults for the Config fields left empty. They fit OpenLDAP with the
// inetOrgPerson schema and groups that are groupOfNames (member: the user's
// DN) or posixGroup (memberUid: the user name).
const (
	DefaultUserFilter    = "(uid=%s)"
	DefaultGroupFilter   = "(|(member=%s)(memberUid=%s))"
	DefaultUsernameAttr  = "uid"
	DefaultEmailAttr     = "mail"
	DefaultNameAttr      = "cn"
	DefaultGroupNameAttr = "cn"
	DefaultTimeout       = 10 * time.Second
)

// Config says where the directory is and how users and groups are found.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before anything is
	// sent, for directories that offer no ldaps:// port. It is an error
	// with an ldaps:// URL, which is TLS already.
	StartTLS bool
	// CAFile is a PEM file of the certificate authorities trusted for
	// ldaps:// and StartTLS; empty means the system's. A file (not a
	// tls.Config) so that it can be given on the command line or in the
	// config file like every other setting.
	CAFile string

	// BindDN and BindPassword are the service account used to search for
	// users and groups. Both empty means an anonymous search, which some
	// directories allow.
	BindDN       string
	BindPassword string

	// UserBase is the subtree searched for users.
	UserBase string
	// UserFilter finds the user: every "%s" is replaced by the user name
	// as typed, escaped (RFC 4515). Default DefaultUserFilter.
	UserFilter string

	// GroupBase is the subtree searched for the user's groups; empty means
	// no group search (Identity.Groups stays empty).
	GroupBase string
	// GroupFilter finds the user's groups. "%s" is replaced, in order, by
	// the user's DN and then by the user name (the UsernameAttr value, or
	// the name as typed when the entry has none); "%[1]s" and "%[2]s" name
	// them explicitly, so "(memberUid=%[2]s)" works for posixGroup alone.
	// Values are escaped. Default DefaultGroupFilter.
	GroupFilter string

	// Attribute names read from the user entry and group entries.
	UsernameAttr  string // default "uid"
	EmailAttr     string // default "mail"
	NameAttr      string // default "cn" (display name)
	GroupNameAttr string // default "cn"

	// Timeout bounds the connection and each request. Default 10s.
	Timeout time.Duration
}

// Provider authenticates against one directory. It is safe for concurrent
// use.
type Provider struct {
	cfg       Config
	tlsConfig *tls.Config
	host      string
}

// New checks cfg, fills its defaults and loads the CA file. It does not
// contact the directory, so that Silo can start while the directory is
// down; a misconfigured service account shows up at the first login as an
// error that is not provider.ErrBadCredentials.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps") {
		return nil, fmt.Errorf("ldap: URL %q: want ldap://host[:port] or ldaps://host[:port]", cfg.URL)
	}
	if cfg.StartTLS && u.Scheme == "ldaps" {
		return nil, fmt.Errorf("ldap: StartTLS with an ldaps:// URL: the connection is TLS already; use one or the other")
	}
	if cfg.UserBase == "" {
		return nil, errors.New("ldap: UserBase is required")
	}
	if (cfg.BindDN == "") != (cfg.BindPassword == "") {
		// A DN with no password would be an LDAP "unauthenticated bind",
		// which servers accept and then treat as anonymous: a silently
		// broken service account.
		return nil, errors.New("ldap: BindDN and BindPassword must be given together (or neither, for anonymous search)")
	}
	setDefault(&cfg.UserFilter, DefaultUserFilter)
	setDefault(&cfg.GroupFilter, DefaultGroupFilter)
	setDefault(&cfg.UsernameAttr, DefaultUsernameAttr)
	setDefault(&cfg.EmailAttr, DefaultEmailAttr)
	setDefault(&cfg.NameAttr, DefaultNameAttr)
	setDefault(&cfg.GroupNameAttr, DefaultGroupNameAttr)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	// Check the filters now, with harmless values, so that a typo is a
	// start-up error and not a failure at every login.
	for _, f := range []struct {
		name, tmpl string
		vals       []string
	}{
		{"UserFilter", cfg.UserFilter, []string{"x"}},
		{"GroupFilter", cfg.GroupFilter, []string{"x", "x"}},
	} {
		probe, n, err := fillFilter(f.tmpl, f.vals...)
		if err == nil && n == 0 {
			// Without a placeholder every login would find the same
			// entries, whoever logs in.
			err = fmt.Errorf("%q has no %%s placeholder", f.tmpl)
		}
		if err == nil {
			_, err = goldap.CompileFilter(probe)
		}
		if err != nil {
			return nil, fmt.Errorf("ldap: %s: %w", f.name, err)
		}
	}

	p := &Provider{cfg: cfg, host: u.Hostname()}
	if u.Scheme == "ldaps" || cfg.StartTLS {
		// ServerName is set explicitly because StartTLS upgrades a plain
		// connection, where crypto/tls has no host name to check against.
		p.tlsConfig = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ldap: CAFile: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ldap: CAFile %s holds no PEM certificate", cfg.CAFile)
			}
			p.tlsConfig.RootCAs = pool
		}
	}
	return p, nil
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// Name returns "ldap", the provider name in every Identity it makes.
func (p *Provider) Name() string { return "ldap" }

// Authenticate checks username and password against the directory. It
// returns provider.ErrBadCredentials for an empty, unknown or wrong user name
// or password, and another error (wrapped, never ErrBadCredentials) when the
// directory cannot be reached or the service account is refused, so that an
// outage is logged as one and not blamed on the user.
func (p *Provider) Authenticate(ctx context.Context, username, password string) (*provider.Identity, error) {
	// An empty password must never reach the directory: a simple bind with
	// a DN and no password is an "unauthenticated bind" (RFC 4513 §5.1.2),
	// which many servers answer with success.
	if username == "" || password == "" {
		return nil, provider.ErrBadCredentials
	}
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// go-ldap's requests take no context: closing the connection when ctx
	// ends makes the request under way fail at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	id, err := p.authenticate(conn, username, password)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("ldap: %w", ctx.Err())
	}
	return id, err
}

func (p *Provider) authenticate(conn *goldap.Conn, username, password string) (*provider.Identity, error) {
	if err := p.serviceBind(conn); err != nil {
		return nil, err
	}

	filter, _, _ := fillFilter(p.cfg.UserFilter, goldap.EscapeFilter(username))
	attrs := []string{p.cfg.UsernameAttr, p.cfg.EmailAttr, p.cfg.NameAttr}
	// A size limit of 2 is enough to tell "exactly one" from "several"
	// without reading a whole directory when a filter is too broad.
	res, err := conn.Search(goldap.NewSearchRequest(p.cfg.UserBase, goldap.ScopeWholeSubtree,
		goldap.NeverDerefAliases, 2, p.timeLimit(), false, filter, attrs, nil))
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return nil, fmt.Errorf("ldap: user filter %s matches more than one entry under %s: make it unique", filter, p.cfg.UserBase)
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return nil, fmt.Errorf("ldap: UserBase %s does not exist: %w", p.cfg.UserBase, err)
	case err != nil:
		return nil, fmt.Errorf("ldap: searching for the user: %w", err)
	case len(res.Entries) == 0:
		return nil, provider.ErrBadCredentials
	case len(res.Entries) > 1:
		return nil, fmt.Errorf("ldap: user filter %s matches more than one entry under %s: make it unique", filter, p.cfg.UserBase)
	}
	user := res.Entries[0]

	if err := conn.Bind(user.DN, password); err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return nil, provider.ErrBadCredentials
		}
		if goldap.IsErrorWithCode(err, goldap.LDAPResultUnwillingToPerform) {
			// What directories answer for a disabled or locked account
			// once the password has been checked.
			return nil, fmt.Errorf("%w: %v", provider.ErrAccountDenied, err)
		}
		return nil, fmt.Errorf("ldap: binding as the user: %w", err)
	}

	uid := user.GetAttributeValue(p.cfg.UsernameAttr)
	if uid == "" {
		uid = username
	}
	id := &provider.Identity{
		Provider: p.Name(),
		Subject:  user.DN,
		Username: provider.Username(uid),
		Email:    user.GetAttributeValue(p.cfg.EmailAttr),
		Name:     user.GetAttributeValue(p.cfg.NameAttr),
	}
	if p.cfg.GroupBase == "" {
		return id, nil
	}

	// Back to the service account: users often may not read group entries,
	// and what the group search finds must not depend on who logs in.
	if err := p.serviceBind(conn); err != nil {
		return nil, err
	}
	filter, _, _ = fillFilter(p.cfg.GroupFilter, goldap.EscapeFilter(user.DN), goldap.EscapeFilter(uid))
	res, err = conn.Search(goldap.NewSearchRequest(p.cfg.GroupBase, goldap.ScopeWholeSubtree,
		goldap.NeverDerefAliases, 0, p.timeLimit(), false, filter, []string{p.cfg.GroupNameAttr}, nil))
	if err != nil {
		return nil, fmt.Errorf("ldap: searching for the user's groups: %w", err)
	}
	for _, g := range res.Entries {
		if name := g.GetAttributeValue(p.cfg.GroupNameAttr); name != "" {
			id.Groups = append(id.Groups, name)
		}
	}
	return id, nil
}

// connect dials the directory and, when configured, upgrades to TLS.
func (p *Provider) connect(ctx context.Context) (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: p.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	opts := []goldap.DialOpt{goldap.DialWithDialer(d)}
	if p.tlsConfig != nil {
		opts = append(opts, goldap.DialWithTLSConfig(p.tlsConfig))
	}
	conn, err := goldap.DialURL(p.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldap: connecting to %s: %w", p.cfg.URL, err)
	}
	conn.SetTimeout(p.cfg.Timeout)
	if p.cfg.StartTLS {
		if err := conn.StartTLS(p.tlsConfig); err != nil {
			conn.Close()
			return nil, fmt.Errorf("ldap: StartTLS with %s: %w", p.cfg.URL, err)
		}
	}
	return conn, nil
}

// serviceBind binds as the service account, or does nothing for anonymous
// search. Any failure here is the configuration's fault, never the user's.
func (p *Provider) serviceBind(conn *goldap.Conn) error {
	if p.cfg.BindDN == "" {
		return nil
	}
	if err := conn.Bind(p.cfg.BindDN, p.cfg.BindPassword); err != nil {
		return fmt.Errorf("ldap: binding as the service account %s: %w", p.cfg.BindDN, err)
	}
	return nil
}

// timeLimit is the server-side time limit in whole seconds, so that the
// directory gives up on a slow search about when the client does.
func (p *Provider) timeLimit() int {
	return max(1, int(p.cfg.Timeout/time.Second))
}

// fillFilter puts already-escaped values into a filter template: each "%s"
// takes the next value (the last one repeats, so "(|(uid=%s)(mail=%s))"
// works with one value), and "%[n]s" takes value n, counting from 1. Any
// other "%" is an error: LDAP filters escape with backslashes, so a "%" in a
// template is always a mistake. It also returns how many placeholders it
// filled. New has checked each template, so later calls cannot fail.
func fillFilter(tmpl string, vals ...string) (string, int, error) {
	var b strings.Builder
	next, filled := 0, 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		rest := tmpl[i+1:]
		switch {
		case strings.HasPrefix(rest, "s"):
			b.WriteString(vals[min(next, len(vals)-1)])
			next++
			filled++
			i++
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]s")
			n, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil || n < 1 || n > len(vals) {
				return "", 0, fmt.Errorf("%q: bad placeholder at byte %d: use %%s or %%[1]s..%%[%d]s", tmpl, i, len(vals))
			}
			b.WriteString(vals[n-1])
			filled++
			i += end + 2
		default:
			return "", 0, fmt.Errorf("%q: stray %% at byte %d: the placeholders are %%s and %%[n]s", tmpl, i)
		}
	}
	return b.String(), filled, nil
}
