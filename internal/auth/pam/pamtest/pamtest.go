// Package pamtest sets up PAM for tests without touching /etc: a
// pam_userdb user database and service files that use it, in a temporary
// directory to pass as the PAM provider's ConfDir. The PAM provider's own
// tests and the server's end-to-end PAM login test share it.
//
// It is plain Go (it only writes files and runs db_load), so it builds
// without the "pam" tag; only the tests that use it need the tag. When a
// module or db_load is missing the test is skipped with the install hint,
// or failed when CI=true (providertest.Missing).
package pamtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/siloreg/silo/internal/auth/provider/providertest"
)

// The users pam_userdb knows, and their passwords.
const (
	Alice         = "alice"
	AlicePassword = "wonderland"
	Bob           = "bob"
	BobPassword   = "builder"
)

// The services ConfDir writes.
const (
	// Service checks the password and the account with pam_userdb.
	Service = "silo-test"
	// ServiceChatty is Service after a module that prints a message, which
	// must not break a login.
	ServiceChatty = "silo-test-chatty"
	// ServiceLocked accepts the right password but refuses every account
	// (pam_deny in the account stack).
	ServiceLocked = "silo-test-locked"
	// ServiceBroken names a module that cannot be loaded: the
	// configuration's fault, not the user's.
	ServiceBroken = "silo-test-broken"
)

// moduleDirs are where Debian (multiarch) and other distributions keep PAM
// modules.
var moduleDirs = []string{
	"/usr/lib/x86_64-linux-gnu/security", "/lib/x86_64-linux-gnu/security",
	"/usr/lib/aarch64-linux-gnu/security", "/lib/aarch64-linux-gnu/security",
	"/usr/lib64/security", "/lib64/security", "/usr/lib/security", "/lib/security",
}

func findModule(t testing.TB, name string) string {
	t.Helper()
	for _, d := range moduleDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	providertest.Missing(t, "INSTALL libpam-modules: PAM module %s not found in %v", name, moduleDirs)
	return ""
}

// ConfDir writes a user database for pam_userdb and the PAM service files
// above into a temporary directory, removed when the test ends, and returns
// that directory.
func ConfDir(t testing.TB) string {
	t.Helper()
	userdb := findModule(t, "pam_userdb.so")
	deny := findModule(t, "pam_deny.so")
	echo := findModule(t, "pam_echo.so")
	dbLoad, err := exec.LookPath("db_load")
	if err != nil {
		providertest.Missing(t, "INSTALL db-util: the PAM tests make pam_userdb's database with db_load (apt-get install db-util)")
	}

	dir := t.TempDir()
	// db_load -T reads alternate key and value lines; pam_userdb looks up
	// the user as the key and compares the value with the password
	// (crypt=none: stored in clear, which is fine for a test).
	src := filepath.Join(dir, "users.txt")
	users := Alice + "\n" + AlicePassword + "\n" + Bob + "\n" + BobPassword + "\n"
	if err := os.WriteFile(src, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "users") // pam_userdb adds ".db"
	if out, err := exec.Command(dbLoad, "-T", "-t", "hash", "-f", src, db+".db").CombinedOutput(); err != nil {
		t.Fatalf("db_load: %v\n%s", err, out)
	}
	userdbLine := userdb + " db=" + db + " crypt=none"
	services := map[string]string{
		Service: "auth required " + userdbLine + "\naccount required " + userdbLine + "\n",
		ServiceChatty: "auth optional " + echo + " Welcome, %u\n" +
			"auth required " + userdbLine + "\naccount required " + userdbLine + "\n",
		ServiceLocked: "auth required " + userdbLine + "\naccount required " + deny + "\n",
		ServiceBroken: "auth required " + filepath.Join(dir, "pam_missing.so") + "\naccount required " + userdbLine + "\n",
	}
	for name, body := range services {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
