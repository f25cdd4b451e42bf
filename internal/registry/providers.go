package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/auth/provider"
	"github.com/siloreg/silo/internal/meta"
)

// Logins through external providers (LDAP, PAM, OIDC) and what their
// groups grant. The rules:
//   - a provider's person gets an account of their own on their first
//     login, linked by (provider, subject) and never by name
//     (auth.UserFromIdentity);
//   - each group whose name, made a valid Silo name, is an existing team's
//     makes the person a member (never an owner) of that team; groups
//     create no teams, so what a group grants is decided in Silo;
//   - such memberships remember the provider that granted them, and at
//     each login the ones whose group the person has left are taken away.
//     Memberships granted in Silo are never touched, even when a group of
//     the same name comes and goes: an owner's decision outranks the
//     directory's.

// providers are the password providers (LDAP, PAM) consulted after local
// accounts, in order.
func (r *Registry) providers() []provider.PasswordProvider { return r.cfg.PasswordProviders }

// ProviderLogin logs in a person a provider vouched for without Silo
// seeing a password (an OpenID Connect login): it creates or updates their
// account, maps their groups to teams and returns a new token, as Login
// does for a password. Both outcomes are audited with remote as the
// address.
func (r *Registry) ProviderLogin(ctx context.Context, id *provider.Identity, remote string) (*LoginResult, error) {
	return r.providerLogin(ctx, id, remote, apiLogin)
}

// providerLogin is ProviderLogin issuing the token lt describes.
func (r *Registry) providerLogin(ctx context.Context, id *provider.Identity, remote string, lt loginToken) (*LoginResult, error) {
	if id == nil || id.Provider == "" || id.Subject == "" {
		return nil, errors.New("provider login without a provider or a subject")
	}
	u, err := auth.UserFromIdentity(ctx, r.meta, id, r.nameFree)
	if err != nil {
		r.auditAs(ctx, auditName(id.Username), remote, "login-failed", "", id.Provider+": no account could be found or made for "+id.Subject)
		return nil, fmt.Errorf("the account of %s's %q: %w", id.Provider, id.Subject, err)
	}
	if u.Disabled {
		r.auditAs(ctx, u.Name, remote, "login-failed", "", id.Provider+": account disabled")
		return nil, errf(Forbidden, "account %q is disabled", u.Name)
	}
	return r.finishLogin(ctx, u, id, remote, id.Provider, lt)
}

// RecordProviderLoginFailure audits a provider login that failed before
// anyone was known (an expired or forged state, a provider that said no);
// providerName is "oidc:<name>".
func (r *Registry) RecordProviderLoginFailure(ctx context.Context, providerName, remote, reason string) {
	if len(reason) > 300 {
		reason = reason[:300] + "…"
	}
	r.auditAs(ctx, "anonymous", remote, "login-failed", providerName, reason)
}

// finishLogin completes a successful login of u (id is nil for a local
// account): it brings the provider's team memberships up to date and
// issues the token lt describes (for the APIs: named after the login and
// valid for LoginTokenTTL). The
// memberships come first so that a failure to take one away refuses the
// login rather than handing out a token with rights the person has lost.
func (r *Registry) finishLogin(ctx context.Context, u *meta.User, id *provider.Identity, remote, how string, lt loginToken) (*LoginResult, error) {
	if id != nil {
		if err := r.syncGroupTeams(ctx, u, id, remote); err != nil {
			r.auditAs(ctx, u.Name, remote, "login-failed", "", how+": the team memberships could not be updated")
			return nil, fmt.Errorf("updating %s's team memberships from %s: %w", u.Name, id.Provider, err)
		}
	}
	now := r.now()
	nt, err := r.issue(ctx, u, lt.prefix+" "+now.Format("2006-01-02 15:04:05 UTC"), nil, now.Add(lt.ttl))
	if err != nil {
		return nil, err
	}
	r.auditAs(ctx, u.Name, remote, "login", "", how+", "+describeToken(&nt.TokenInfo))
	res := &LoginResult{Token: *nt, Account: account(u)}
	if id != nil {
		res.Groups = slices.Clone(id.Groups)
	}
	return res, nil
}

// syncGroupTeams makes u's memberships granted by id.Provider match
// id.Groups: it joins u to each existing team named after a group (unless
// u is in it already, however) and takes u out of each team the provider
// granted whose group u is no longer in.
//
// A hand grant made between the read and the write here can be turned
// into the provider's; the window is one login's few queries, and the
// next hand grant fixes it.
func (r *Registry) syncGroupTeams(ctx context.Context, u *meta.User, id *provider.Identity, remote string) error {
	// The teams the groups grant, each with the first group that names it
	// (two groups can differ only in what Username drops, "Physics" and
	// "physics").
	type grant struct {
		team  *meta.Team
		group string
	}
	var grants []grant
	granted := map[int64]bool{}
	for _, g := range id.Groups {
		name := provider.Username(g)
		if name == "" {
			continue
		}
		t, err := r.meta.TeamByName(ctx, name)
		if errors.Is(err, meta.ErrNotFound) {
			continue // groups create no teams
		}
		if err != nil {
			return err
		}
		if !granted[t.ID] {
			granted[t.ID] = true
			grants = append(grants, grant{t, g})
		}
	}

	have, err := r.meta.UserTeams(ctx, u.ID)
	if err != nil {
		return err
	}
	member := map[int64]bool{}
	for _, m := range have {
		member[m.TeamID] = true
	}
	for _, g := range grants {
		if member[g.team.ID] {
			// Already in: by hand (which stays a hand grant, with any
			// ownership) or by this provider at an earlier login.
			continue
		}
		if err := r.meta.SetMember(ctx, meta.Member{TeamID: g.team.ID, UserID: u.ID, Source: id.Provider}); err != nil {
			return err
		}
		r.auditAs(ctx, u.Name, remote, "team-join", g.team.Name+"/"+u.Name, "from "+id.Provider+" group "+g.group)
	}
	for _, m := range have {
		if m.Source != id.Provider || granted[m.TeamID] {
			continue
		}
		t, err := r.meta.Team(ctx, m.TeamID)
		if err != nil {
			return err
		}
		if err := r.meta.RemoveMember(ctx, m.TeamID, u.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
			// ErrNotFound: another login of the same person took it
			// away first, which is what was wanted.
			return err
		}
		// The group's own spelling is not kept; the team's name is what
		// it mapped to.
		r.auditAs(ctx, u.Name, remote, "team-leave", t.Name+"/"+u.Name, "from "+id.Provider+" group "+t.Name)
	}
	return nil
}
