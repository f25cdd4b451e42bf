package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/auth/ldap"
	"github.com/siloreg/silo/internal/auth/ldap/ldaptest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestLDAPLogin logs in through the silo API against a real slapd, pushes
// with the token it returns, and follows the person's groups into teams
// and out again, then takes the directory down.
func TestLDAPLogin(t *testing.T) {
	dir := ldaptest.Start(t)
	var log serverLog
	in := servertest.Start(t, server.Config{
		Log: log.logger(),
		LDAP: ldap.Config{
			URL:          dir.URL,
			BindDN:       ldaptest.ReaderDN,
			BindPassword: ldaptest.ReaderPassword,
			UserBase:     ldaptest.UserBase,
			GroupBase:    ldaptest.GroupBase,
		},
	})
	// alice's groups are physics, admins and cluster-users. Teams exist for
	// two of them, and for chemistry, which she is not in; admins has no
	// team, and no group makes one.
	for _, team := range []string{"physics", "cluster-users", "chemistry"} {
		in.Call(t, "POST", siloAPI+"teams", in.AdminToken, silo.NewTeam{Name: team}, nil, http.StatusCreated)
	}

	res, _ := login(t, in, "alice", ldaptest.AlicePassword, http.StatusOK)
	if res.User.Name != "alice" || res.User.Source != "ldap" || res.User.Subject != ldaptest.UserDN("alice") || res.User.Email != "alice@silo.test" {
		t.Errorf("logged in as %+v", res.User)
	}
	first := res.Token
	if got, want := teamsOf(t, in, first), []string{"cluster-users", "physics"}; !slices.Equal(got, want) {
		t.Errorf("after the first login, teams %q, want %q", got, want)
	}
	if got, want := auditDetails(t, in, "team-join"), []string{
		"physics/alice: from ldap group physics",
		"cluster-users/alice: from ldap group cluster-users",
	}; !slices.Equal(got, want) {
		t.Errorf("team-join audit %q, want %q", got, want)
	}
	// The token works with the library client: into her own entity, and
	// into the entity of a team a group made her a member of, but not into
	// another team's.
	for _, p := range []struct {
		name string
		want int
	}{
		{"alice/tools/app", http.StatusOK},
		{"physics/tools/app", http.StatusOK},
		{"chemistry/tools/app", http.StatusForbidden},
	} {
		if got := push(t, in, first, p.name, 1); got != p.want {
			t.Errorf("alice pushing %s: status %d, want %d", p.name, got, p.want)
		}
	}

	// A team owner grants chemistry by hand, and grants cluster-users by
	// hand too, which the group had granted already.
	for _, team := range []string{"chemistry", "cluster-users"} {
		in.Call(t, "PUT", siloAPI+"teams/"+team+"/members/alice", in.AdminToken, silo.Membership{}, nil, http.StatusOK)
	}
	// The directory takes alice out of physics and cluster-users.
	mod := goldap.NewModifyRequest(ldaptest.GroupDN("physics"), nil)
	mod.Delete("member", []string{ldaptest.UserDN("alice")})
	dir.Modify(t, mod)
	mod = goldap.NewModifyRequest(ldaptest.GroupDN("cluster-users"), nil)
	mod.Delete("memberUid", []string{"alice"})
	dir.Modify(t, mod)

	res, _ = login(t, in, "alice", ldaptest.AlicePassword, http.StatusOK)
	// physics came from the group and goes with it; the hand grants stay.
	if got, want := teamsOf(t, in, res.Token), []string{"chemistry", "cluster-users"}; !slices.Equal(got, want) {
		t.Errorf("after leaving the groups, teams %q, want %q", got, want)
	}
	if got, want := auditDetails(t, in, "team-leave"), []string{"physics/alice: from ldap group physics"}; !slices.Equal(got, want) {
		t.Errorf("team-leave audit %q, want %q", got, want)
	}
	// Every token of hers loses the team at once, the first one too. (A
	// new collection: the one she created in physics stays hers to push
	// to, as its creator.)
	for _, p := range []struct {
		name string
		want int
	}{
		{"physics/more/app", http.StatusForbidden},
		{"chemistry/tools/app", http.StatusOK},
	} {
		if got := push(t, in, first, p.name, 2); got != p.want {
			t.Errorf("alice pushing %s after the change: status %d, want %d", p.name, got, p.want)
		}
	}

	// The page `apptainer remote login` sends people to says which
	// password `silo login --user` takes.
	if code, page := get(t, in.URL+"/auth/tokens", ""); code != http.StatusOK || !strings.Contains(page, "(or your LDAP password)") {
		t.Errorf("/auth/tokens: %d\n%s", code, page)
	}

	// A wrong password is a wrong password.
	_, body := login(t, in, "alice", "not-"+ldaptest.AlicePassword, http.StatusUnauthorized)
	if !strings.Contains(string(body), "invalid user name or password") {
		t.Errorf("wrong password: %s", body)
	}

	// A local account with a password, to log in during the outage.
	in.Call(t, "POST", siloAPI+"users", in.AdminToken, silo.NewUserRequest{Name: "carol", Password: "carol-password"}, nil, http.StatusCreated)

	dir.Stop()
	// The directory being down is not the person's fault: never a 401
	// that would send them to reset a password that is fine. The server
	// log says what is wrong.
	_, body = login(t, in, "alice", ldaptest.AlicePassword, http.StatusServiceUnavailable)
	if strings.Contains(string(body), "invalid user name or password") {
		t.Errorf("outage reported as bad credentials: %s", body)
	}
	if !log.contains("ldap could not check the password", "ldap: connecting to "+dir.URL) {
		t.Errorf("the server log does not say the directory is unreachable:\n%s", log.String())
	}
	if got := auditDetails(t, in, "login-failed"); len(got) == 0 || got[len(got)-1] != ": the password could not be checked" {
		t.Errorf("login-failed audit %q; want the last to say the password could not be checked", got)
	}
	// Local accounts do not depend on the directory.
	login(t, in, "carol", "carol-password", http.StatusOK)
}
