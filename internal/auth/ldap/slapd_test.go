package ldap

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

	"github.com/siloreg/silo/internal/auth/provider/providertest"
)

// The directory every test logs in to. Passwords are stored as {SSHA}
// hashes computed here, as a directory would hold them.
const (
	suffix       = "dc=silo,dc=test"
	readerDN     = "cn=reader," + suffix
	readerPass   = "reader-secret"
	alicePass    = "wonderland"
	bobPass      = "builder"
	weirdUID     = "we*ird)(uid=*"
	weirdPass    = "strange"
	slapdModules = "/usr/lib/ldap"
	slapdSchemas = "/etc/ldap/schema"
)

func baseLDIF() string {
	return `dn: ` + suffix + `
objectClass: dcObject
objectClass: organization
dc: silo
o: Silo test

dn: ` + readerDN + `
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: ` + ssha(readerPass) + `

dn: ou=people,` + suffix + `
objectClass: organizationalUnit
ou: people

dn: ou=groups,` + suffix + `
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,` + suffix + `
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@silo.test
userPassword: ` + ssha(alicePass) + `

dn: uid=bob,ou=people,` + suffix + `
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
userPassword: ` + ssha(bobPass) + `

dn: uid=` + weirdUID + `,ou=people,` + suffix + `
objectClass: inetOrgPerson
uid: ` + weirdUID + `
cn: Weird
sn: Weird
userPassword: ` + ssha(weirdPass) + `

dn: cn=physics,ou=groups,` + suffix + `
objectClass: groupOfNames
cn: physics
member: uid=alice,ou=people,` + suffix + `
member: uid=bob,ou=people,` + suffix + `

dn: cn=admins,ou=groups,` + suffix + `
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,` + suffix + `

dn: cn=chemistry,ou=groups,` + suffix + `
objectClass: groupOfNames
cn: chemistry
member: uid=bob,ou=people,` + suffix + `

dn: cn=cluster-users,ou=groups,` + suffix + `
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
rootdn "cn=admin,%s"
directory %s/db
access to attrs=userPassword
	by anonymous auth
	by * none
access to *
	by dn.exact="%s" read
	by self read
	by * none
`, suffix, suffix, dir, readerDN)
	return b.String()
}

type tlsFiles struct{ ca, cert, key string }

// slapd is a real OpenLDAP server running as a child of the test.
type slapd struct {
	ldapURL  string // ldap://127.0.0.1:<port>
	ldapsURL string // ldaps://127.0.0.1:<port>
	caFile   string // PEM of the CA that signed the server's certificate

	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
	stop   sync.Once
}

// startSlapd starts slapd on free ports of 127.0.0.1 with a fresh database
// loaded by slapadd, waits until it answers, and stops it when the test ends.
func startSlapd(t *testing.T) *slapd {
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
			t.Cleanup(s.kill)
			return s
		}
		lastErr = err
	}
	t.Fatalf("slapd did not start: %v", lastErr)
	return nil
}

func findSlapd(t *testing.T) string {
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

func runSlapd(bin, conf, caFile string) (*slapd, error) {
	p1, p2 := freePort(), freePort()
	s := &slapd{
		ldapURL:  fmt.Sprintf("ldap://127.0.0.1:%d", p1),
		ldapsURL: fmt.Sprintf("ldaps://127.0.0.1:%d", p2),
		caFile:   caFile,
		exited:   make(chan struct{}),
		log:      &syncBuffer{},
	}
	// -d keeps slapd in the foreground, as our child, logging to stderr;
	// level 0 logs only what goes wrong.
	s.cmd = exec.Command(bin, "-d", "0", "-f", conf, "-h", s.ldapURL+"/ "+s.ldapsURL+"/")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	killWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("slapd exited: %s", s.log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.ldapURL, "ldap://"), time.Second); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("slapd did not listen within 20s: %s", s.log.String())
		}
		// Poll rather than guess how long start-up takes; the wait only
		// spaces the tries.
		select {
		case <-s.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill stops slapd and waits until it has exited, so that its port is
// closed when kill returns.
func (s *slapd) kill() {
	s.stop.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
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
func makeCerts(t *testing.T, dir string) *tlsFiles {
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
