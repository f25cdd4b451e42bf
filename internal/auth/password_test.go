package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strings"
	"testing"
)

// phcRE is the PHC string format with today's parameters: 16 bytes of
// salt and 32 of key, unpadded standard base64.
var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	h1, err := HashPassword(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(h1) {
		t.Errorf("hash %q is not an argon2id PHC string with the expected parameters", h1)
	}
	if strings.Contains(h1, pw) {
		t.Error("the hash contains the password")
	}
	h2, err := HashPassword(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, h := range []string{h1, h2} {
		if ok, err := CheckPassword(ctx, h, pw); err != nil || !ok {
			t.Errorf("CheckPassword(right password) = %v, %v", ok, err)
		}
		for _, wrong := range []string{"", "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple"} {
			if ok, err := CheckPassword(ctx, h, wrong); err != nil || ok {
				t.Errorf("CheckPassword(%q) = %v, %v; want false, nil", wrong, ok, err)
			}
		}
		if NeedsRehash(h) {
			t.Errorf("NeedsRehash(%q) for a fresh hash", h)
		}
	}
}

// TestReferenceImplementation checks a hash made by the Argon2 reference
// implementation (libargon2's argon2id_hash_encoded, t=3 m=65536 p=4) so
// that hashes move between Silo and other software in both directions.
func TestReferenceImplementation(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=3,p=4$c2lsby10ZXN0LXNhbHQxNg$8C72Ch4o/gwURjOlUxYOdsEsQ5Zv/BA7e359K1H57Jg"
	ctx := context.Background()
	if ok, err := CheckPassword(ctx, ref, "correct horse battery staple"); err != nil || !ok {
		t.Errorf("the reference hash does not check: %v, %v", ok, err)
	}
	if ok, _ := CheckPassword(ctx, ref, "correct horse battery stapler"); ok {
		t.Error("the reference hash accepts a wrong password")
	}
	// And the other way: the same salt through this package's derivation
	// gives the reference key.
	p, salt, key, err := parseHash(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := derive(ctx, "correct horse battery staple", salt, p, uint32(len(key)))
	if err != nil {
		t.Fatal(err)
	}
	if base64.RawStdEncoding.EncodeToString(got) != base64.RawStdEncoding.EncodeToString(key) {
		t.Error("derive disagrees with the reference implementation")
	}
}

// TestEveryKeyBitCounts flips one bit of a stored key at the start, the
// middle and the end: each must make the check fail, which a comparison
// of a prefix, or of a truncated key, would not.
func TestEveryKeyBitCounts(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(h, "$")
	key, err := base64.RawStdEncoding.DecodeString(h[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{0, 1, len(key) / 2, len(key) - 1} {
		bad := append([]byte(nil), key...)
		bad[pos] ^= 0x01
		if ok, err := CheckPassword(ctx, h[:i+1]+base64.RawStdEncoding.EncodeToString(bad), "hunter2hunter2"); err != nil || ok {
			t.Errorf("key with byte %d changed: CheckPassword = %v, %v; want false", pos, ok, err)
		}
	}
}

// TestConstantTimeCompare: timing cannot be asserted without flaky timed
// tests, so this checks the code instead. CheckPassword must compare the
// derived key with crypto/subtle.ConstantTimeCompare, and nothing in this
// file may compare secrets with bytes.Equal, which returns at the first
// difference and so tells an attacker how much of a guess was right.
func TestConstantTimeCompare(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "password.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var constantTime bool
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok {
			return true
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, _ := sel.X.(*ast.Ident)
			if x == nil {
				return true
			}
			switch x.Name + "." + sel.Sel.Name {
			case "subtle.ConstantTimeCompare":
				constantTime = constantTime || fn.Name.Name == "CheckPassword"
			case "bytes.Equal", "bytes.Compare", "reflect.DeepEqual":
				t.Errorf("%s uses %s.%s on what may be a secret", fn.Name.Name, x.Name, sel.Sel.Name)
			}
			return true
		})
		return false
	})
	if !constantTime {
		t.Error("CheckPassword does not compare keys with subtle.ConstantTimeCompare")
	}
}

func TestMalformedHashes(t *testing.T) {
	ctx := context.Background()
	good, err := HashPassword(ctx, "password1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for _, h := range []string{
		"",
		"password1",
		"$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", // bcrypt
		"$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		with(2, "v=16"),
		with(3, "m=65536,t=0,p=4"),
		with(3, "m=65536,t=3,p=0"),
		with(3, "m=65536,t=3,p=300"),
		with(3, "m=999999999,t=3,p=4"), // a damaged row must not make every login allocate a terabyte
		with(3, "m=1,t=3,p=4"),
		with(3, "x"),
		with(4, "!!!"),
		with(4, ""),
		with(5, "short"),
		with(5, "***"),
		good + "$extra",
	} {
		ok, err := CheckPassword(ctx, h, "password1")
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckPassword(%q) = %v, %v; want false, ErrMalformedHash", h, ok, err)
		}
		if !NeedsRehash(h) {
			t.Errorf("NeedsRehash(%q) = false for an unreadable hash", h)
		}
	}
}

// TestNeedsRehash: a hash made with weaker parameters still checks, and
// asks to be replaced.
func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	salt := []byte("0123456789abcdef")
	p := argonParams{time: 1, memory: 8 * 1024, threads: 1}
	key, err := derive(ctx, "password1", salt, p, 32)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawStdEncoding
	weak := "$argon2id$v=19$m=8192,t=1,p=1$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	if ok, err := CheckPassword(ctx, weak, "password1"); err != nil || !ok {
		t.Fatalf("a weak hash does not check: %v, %v", ok, err)
	}
	if !NeedsRehash(weak) {
		t.Error("NeedsRehash is false for m=8192,t=1,p=1")
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"":                              false,
		"seven77":                       false,
		"eight888":                      true,
		"пароль-пароль":                 true, // counted in characters, not bytes
		"ééééééé":                       false,
		strings.Repeat("x", 1024):       true,
		strings.Repeat("x", 1025):       false,
		"with spaces inside and around": true,
	} {
		if err := CheckPasswordPolicy(pw); (err == nil) != ok {
			t.Errorf("CheckPasswordPolicy(%q) = %v, want ok %v", pw, err, ok)
		}
	}
}

// TestHashingWaitsForASlot: with every hashing slot taken, a hash waits,
// and gives up when its caller does, rather than allocating 64 MiB more.
func TestHashingWaitsForASlot(t *testing.T) {
	dummyHash() // made before the slots are taken: it waits for one too
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	defer func() {
		for range cap(hashSlots) {
			<-hashSlots
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := HashPassword(ctx, "password1"); !errors.Is(err, context.Canceled) {
		t.Errorf("HashPassword with no free slot and a cancelled context: %v", err)
	}
	if _, err := CheckPassword(ctx, dummyHash(), "password1"); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckPassword with no free slot and a cancelled context: %v", err)
	}
}
