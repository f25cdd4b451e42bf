package provider

import (
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/ref"
)

func TestUsername(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                  "alice",
		"Alice.Smith":            "alice.smith",
		"alice@example.org":      "alice-example.org",
		"  Bob  Jones ":          "bob-jones",
		"--x--":                  "x",
		"a._-b":                  "a.b",
		"DOMAIN\\user":           "domain-user",
		"José":                   "jos",
		"*)(uid=*":               "uid",
		"":                       "",
		"___":                    "",
		"日本":                     "",
		strings.Repeat("a", 200): strings.Repeat("a", ref.MaxNameLen),
		strings.Repeat("a", ref.MaxNameLen-1) + "-b": strings.Repeat("a", ref.MaxNameLen-1),
	} {
		got := Username(in)
		if got != want {
			t.Errorf("Username(%q) = %q, want %q", in, got, want)
		}
		if got != "" && ref.ValidName(got) != nil {
			t.Errorf("Username(%q) = %q is not a valid name: %v", in, got, ref.ValidName(got))
		}
	}
}

func FuzzUsername(f *testing.F) {
	for _, s := range []string{"alice", "A.B", "x@y", "--", "é.é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Username(s)
		if got != "" && ref.ValidName(got) != nil {
			t.Fatalf("Username(%q) = %q: %v", s, got, ref.ValidName(got))
		}
		if Username(got) != got {
			t.Fatalf("Username is not idempotent on %q: %q then %q", s, got, Username(got))
		}
	})
}
