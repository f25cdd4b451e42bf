//go:build pam && cgo

package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/auth/ldap"
	"github.com/siloreg/silo/internal/auth/ldap/ldaptest"
	"github.com/siloreg/silo/internal/auth/pam"
	"github.com/siloreg/silo/internal/auth/pam/pamtest"
	"github.com/siloreg/silo/internal/server"
	"github.com/siloreg/silo/internal/server/servertest"
)

// TestPAMLogin logs in through the silo API with a PAM service (pam_userdb
// in a temporary confdir) and pushes with the token.
func TestPAMLogin(t *testing.T) {
	confDir := pamtest.ConfDir(t)
	in := servertest.Start(t, server.Config{PAM: pam.Config{Service: pamtest.Service, ConfDir: confDir}})

	res, _ := login(t, in, pamtest.Alice, pamtest.AlicePassword, http.StatusOK)
	if res.User.Name != "alice" || res.User.Source != "pam" || res.User.Subject != "alice" {
		t.Errorf("logged in as %+v", res.User)
	}
	if got := push(t, in, res.Token, "alice/tools/app", 1); got != http.StatusOK {
		t.Errorf("pushing with the PAM login's token: status %d", got)
	}
	_, body := login(t, in, pamtest.Alice, "not-"+pamtest.AlicePassword, http.StatusUnauthorized)
	if !strings.Contains(string(body), "invalid user name or password") {
		t.Errorf("wrong password: %s", body)
	}

	// The right password for an account PAM will not let in now.
	locked := servertest.Start(t, server.Config{PAM: pam.Config{Service: pamtest.ServiceLocked, ConfDir: confDir}})
	_, body = login(t, locked, pamtest.Bob, pamtest.BobPassword, http.StatusForbidden)
	if !strings.Contains(string(body), "may not log in") {
		t.Errorf("locked account: %s", body)
	}
}

// With LDAP and PAM both on, LDAP answers first: alice, known to both with
// the same password, becomes the directory's alice.
func TestLDAPBeforePAM(t *testing.T) {
	confDir := pamtest.ConfDir(t)
	dir := ldaptest.Start(t)
	in := servertest.Start(t, server.Config{
		LDAP: ldap.Config{URL: dir.URL, BindDN: ldaptest.ReaderDN, BindPassword: ldaptest.ReaderPassword, UserBase: ldaptest.UserBase},
		PAM:  pam.Config{Service: pamtest.Service, ConfDir: confDir},
	})
	if ldaptest.AlicePassword != pamtest.AlicePassword {
		t.Fatal("the test needs alice to have one password in both")
	}
	res, _ := login(t, in, "alice", ldaptest.AlicePassword, http.StatusOK)
	if res.User.Source != "ldap" {
		t.Errorf("alice logged in through %s, want ldap (first)", res.User.Source)
	}
}
