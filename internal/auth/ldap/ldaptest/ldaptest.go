// Package ldaptest runs a real OpenLDAP server (slapd) for tests: a fresh
// directory on free ports of 127.0.0.1, with users, groups of both common
// kinds (groupOfNames and posixGroup), a read-only service account and
// access rules like a real directory's, over ldap://, ldaps:// and StartTLS.
// The LDAP provider's own tests and the server's end-to-end login tests
// share it.
//
// When slapd is not installed the test is skipped with the install hint, or
// failed when CI=true (providertest.Missing).
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/siloreg/silo/internal/auth/provider/providertest"
	"github.com/siloreg/silo/internal/gobin"
)

// The directory every test logs in to. Passwords are stored as {SSHA}
// hashes computed here, as a directory would hold them.
//
//   - alice (AlicePassword, alice@silo.test, "Alice Liddell") is in the
//     groupOfNames groups physics and admins, and in the posixGroup
//     cluster-users (by uid);
//   - bob (BobPassword, no mail, "Bob Builder") is in physics and chemistry;
//   - WeirdUID (WeirdPassword) is a user name made of filter metacharacters.
const (
	Suffix         = "dc=silo,dc=test"
	UserBase       = "ou=people," + Suffix
	GroupBase      = "ou=groups," + Suffix
	ReaderDN       = "cn=reader," + Suffix // the service account: may read every entry
	ReaderPassword = "reader-secret"
	AlicePassword  = "wonderland"
	BobPassword    = "builder"
	WeirdUID       = "we*ird)(uid=*"
	WeirdPassword  = "strange"

	// rootDN may change anything (Modify); it exists only so that tests
	// can change group memberships while the directory runs.
	rootDN       = "cn=admin," + Suffix
	rootPassword = "root-secret"

	slapdModules = "/usr/lib/ldap"
	slapdSchemas = "/etc/ldap/schema"
)

// UserDN is the DN of the user with uid in the test directory.
func UserDN(uid string) string { return "uid=" + uid + "," + UserBase }

// GroupDN is the DN of the group cn in the test directory.
func GroupDN(cn string) string { return "cn=" + cn + "," + GroupBase }

func baseLDIF() string {
	return `dn: ` + Suffix + `
objectClass: dcObject
objectClass: organization
dc: silo
o: Silo test

dn: ` + ReaderDN + `
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: ` + ssha(ReaderPassword) + `

dn: ou=people,` + Suffix + `
objectClass: organizationalUnit
ou: people

dn: ou=groups,` + Suffix + `
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,` + Suffix + `
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@silo.test
userPassword: ` + ssha(AlicePassword) + `

dn: uid=bob,ou=people,` + Suffix + `
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
userPassword: ` + ssha(BobPassword) + `

dn: uid=` + WeirdUID + `,ou=people,` + Suffix + `
objectClass: inetOrgPerson
uid: ` + WeirdUID + `
cn: Weird
sn: Weird
userPassword: ` + ssha(WeirdPassword) + `

dn: cn=physics,ou=groups,` + Suffix + `
objectClass: groupOfNames
cn: physics
member: uid=alice,ou=people,` + Suffix + `
member: uid=bob,ou=people,` + Suffix + `

dn: cn=admins,ou=groups,` + Suffix + `
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,` + Suffix + `

dn: cn=chemistry,ou=groups,` + Suffix + `
objectClass: groupOfNames
cn: chemistry
member: uid=bob,ou=people,` + Suffix + `

dn: cn=cluster-users,ou=groups,` + Suffix + `
objectClass: posixGroup
cn: cluster-users
gidNumber: 5000
memberUid: alice
`
}

// ssha hashes a password the way slappasswd does by default:
// base64(sha1(password || salt) || salt).
func ssha(password string) string {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	sum := sha1.Sum(append([]byte(password), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}

// slapdConf is a whole slapd.conf: the schemas inetOrgPerson and posixGroup
// need, one mdb database, and access rules like a real directory's — users'
// passwords are usable only to bind, and only the reader service account
// (and each user, for their own entry) may read entries.
func slapdConf(dir string, tlsFiles *tlsFiles) string {
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include %s/%s.schema\n", slapdSchemas, s)
	}
	fmt.Fprintf(&b, "modulepath %s\nmoduleload back_mdb\n", slapdModules)
	fmt.Fprintf(&b, "pidfile %s/slapd.pid\nargsfile %s/slapd.args\n", dir, dir)
	if tlsFiles != nil {
		fmt.Fprintf(&b, "TLSCertificateFile %s\nTLSCertificateKeyFile %s\n", tlsFiles.cert, tlsFiles.key)
	}
	fmt.Fprintf(&b, `database mdb
maxsize 16777216
suffix "%s"
rootdn "%s"
rootpw %s
directory %s/db
access to attrs=userPassword
	by anonymous auth
	by * none
access to *
	by dn.exact="%s" read
	by self read
	by * none
`, Suffix, rootDN, ssha(rootPassword), dir, ReaderDN)
	return b.String()
}

type tlsFiles struct{ ca, cert, key string }

// Server is a real OpenLDAP server running as a child of the test.
type Server struct {
	URL      string // ldap://127.0.0.1:<port>, plain or for StartTLS
	LDAPSURL string // ldaps://127.0.0.1:<port>
	CAFile   string // PEM of the CA that signed the server's certificate

	proc *gobin.Proc
}

// Start starts slapd on free ports of 127.0.0.1 with a fresh database
// loaded by slapadd, waits until it answers, and stops it when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findSlapd(t)
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	for _, f := range []string{slapadd, slapdModules + "/back_mdb.so", slapdSchemas + "/inetorgperson.schema"} {
		if _, err := os.Stat(f); err != nil {
			providertest.Missing(t, "INSTALL slapd: %s is missing (apt-get install slapd)", f)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	tf := makeCerts(t, dir)
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(slapdConf(dir, tf)), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(dir, "base.ldif")
	if err := os.WriteFile(ldif, []byte(baseLDIF()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}

	// The ports are found free and then handed to slapd, so another
	// process may take one in between; slapd then exits at once and the
	// start is tried again with new ports.
	var lastErr error
	for range 3 {
		s, err := runSlapd(bin, conf, tf.ca)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("slapd did not start: %v", lastErr)
	return nil
}

func findSlapd(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("slapd"); err == nil {
		return p
	}
	// /usr/sbin is not on an ordinary user's PATH.
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd"
	}
	providertest.Missing(t, "INSTALL slapd: the LDAP tests run a real OpenLDAP server (apt-get install slapd)")
	return ""
}

func runSlapd(bin, conf, caFile string) (*Server, error) {
	p1, p2 := freePort(), freePort()
	s := &Server{
		URL:      fmt.Sprintf("ldap://127.0.0.1:%d", p1),
		LDAPSURL: fmt.Sprintf("ldaps://127.0.0.1:%d", p2),
		CAFile:   caFile,
	}
	// -d keeps slapd in the foreground, as our child, logging to stderr;
	// level 0 logs only what goes wrong.
	cmd := exec.Command(bin, "-d", "0", "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/")
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	listening := func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "ldap://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	var err error
	s.proc, err = gobin.Start(cmd, listening, 20*time.Second, log.String)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Stop stops slapd and waits until it has exited, so that its port is
// closed when Stop returns: the directory is down, as in an outage. It is
// safe to call more than once.
func (s *Server) Stop() { s.proc.Stop() }

// Modify changes the directory while it runs, as its administrator would
// (bound as the root DN, which the access rules do not restrict): to add a
// user to a group or take them out, say.
func (s *Server) Modify(t testing.TB, req *goldap.ModifyRequest) {
	t.Helper()
	conn, err := goldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("ldaptest: connecting to %s: %v", s.URL, err)
	}
	defer conn.Close()
	if err := conn.Bind(rootDN, rootPassword); err != nil {
		t.Fatalf("ldaptest: binding as %s: %v", rootDN, err)
	}
	if err := conn.Modify(req); err != nil {
		t.Fatalf("ldaptest: modifying %s: %v", req.DN, err)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// makeCerts writes a CA and a server certificate for 127.0.0.1 signed by
// it, for the ldaps:// and StartTLS tests.
func makeCerts(t testing.TB, dir string) *tlsFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Silo test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for path, block := range map[string]*pem.Block{
		f.ca:   {Type: "CERTIFICATE", Bytes: caDER},
		f.cert: {Type: "CERTIFICATE", Bytes: der},
		f.key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// syncBuffer collects slapd's output, written by exec's copying goroutine
// and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
