package ref

import (
	"errors"
	"strings"
	"testing"
)

var defs = Defaults{Entity: "library", Collection: "default"}

const (
	hexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hexB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestParseAccepted(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen)
	longTag := "_" + strings.Repeat("T", MaxTagLen-1)
	tests := []struct {
		in   string
		want Ref
	}{
		{"bwa", Ref{"library", "default", "bwa", "", ""}},
		{"tools/bwa", Ref{"library", "tools", "bwa", "", ""}},
		{"alice/tools/bwa", Ref{"alice", "tools", "bwa", "", ""}},
		{"alice/tools/bwa:0.7.17", Ref{"alice", "tools", "bwa", "0.7.17", ""}},
		{"bwa:latest", Ref{"library", "default", "bwa", "latest", ""}},
		{"tools/bwa:V1_x-2.A", Ref{"library", "tools", "bwa", "V1_x-2.A", ""}},
		{"a/b/c:_tag", Ref{"a", "b", "c", "_tag", ""}},
		{"a/b/c@sha256." + hexA, Ref{"a", "b", "c", "", hexA}},
		{"a/b/c@sha256:" + hexA, Ref{"a", "b", "c", "", hexA}},
		{"a/b/c:sha256." + hexA, Ref{"a", "b", "c", "", hexA}},
		{"a/b/c:sha256:" + hexA, Ref{"a", "b", "c", "", hexA}},
		{"b/c:v1@sha256." + hexB, Ref{"library", "b", "c", "v1", hexB}},
		{"library://a/b/c:v1", Ref{"a", "b", "c", "v1", ""}},
		{"library://c", Ref{"library", "default", "c", "", ""}},
		{"library:///a/b/c", Ref{"a", "b", "c", "", ""}},
		{"/a/b/c", Ref{"a", "b", "c", "", ""}},
		{"/c", Ref{"library", "default", "c", "", ""}},
		{"a.b_c-d/e-f/g.h", Ref{"a.b_c-d", "e-f", "g.h", "", ""}},
		{"x0/9y/z", Ref{"x0", "9y", "z", "", ""}},
		{long + "/" + long + "/" + long + ":" + longTag, Ref{long, long, long, longTag, ""}},
		// Upper-case tags are fine (OCI rule), upper-case names are not.
		{"a/b/c:SHA256.x", Ref{"a", "b", "c", "SHA256.x", ""}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, defs)
		if err != nil {
			t.Errorf("Parse(%q) error: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		back, err := Parse(got.String(), Defaults{})
		if err != nil || back != got {
			t.Errorf("Parse(%q).String() = %q does not round-trip: %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestParseRejected(t *testing.T) {
	tests := []struct {
		in       string
		d        Defaults
		inReason string // a fragment the message must contain
	}{
		{"", defs, "empty"},
		{"library://", defs, "no path"},
		{"/", defs, "no path"},
		{"Tools/bwa", defs, `"Tools" must be lower-case`},
		{"a//b", defs, "empty path segment"},
		{"a/b/", defs, "empty path segment"},
		{"//a", defs, "empty path segment"},
		{"a/b/c/d", defs, "at most 3"},
		{"library://cloud.sylabs.io/a/b/c", defs, "must not include a host"},
		{"a/b:", defs, "nothing follows ':'"},
		{"a/b@", defs, "nothing follows '@'"},
		{"a/b:v1@", defs, "nothing follows '@'"},
		{":v1", defs, "no path"},
		{"@sha256." + hexA, defs, "no path"},
		{"a/b/c:-v1", defs, "must start with"},
		{"a/b/c:.v1", defs, "must start with"},
		{"a/b/c:v 1", defs, "must start with"},
		{"a/b/c:v1:v2", defs, "must start with"},
		{"a/b/c:" + strings.Repeat("t", MaxTagLen+1), defs, "at most 128"},
		{"a/b/" + strings.Repeat("c", MaxNameLen+1), defs, "at most 128"},
		{"a/b/c@sha256." + strings.ToUpper(hexA), defs, "lower-case hex"},
		{"a/b/c@sha256." + hexA[:63], defs, "64 hex digits"},
		{"a/b/c@sha256." + hexA + "0", defs, "64 hex digits"},
		{"a/b/c@sha256." + hexA[:63] + "g", defs, "not a hex digit"},
		{"a/b/c@md5." + hexA, defs, "must be sha256"},
		{"a/b/c@" + hexA, defs, "must be sha256"},
		{"a/b/c@sha256." + hexA + "@sha256." + hexA, defs, "64 hex digits"},
		{"a/b/c:sha256.abc", defs, "hash in tag position"},
		{"a/b/c:sha256." + hexA + "@sha256." + hexA, defs, "both after ':' and after '@'"},
		{"a/b/c:sha256." + strings.ToUpper(hexA), defs, "lower-case"},
		{"a/b/-c", defs, "must be lower-case"},
		{"a/b/c-", defs, "must be lower-case"},
		{"a/b/c--d", defs, "must be lower-case"},
		{"a/b/c._d", defs, "must be lower-case"},
		{"a/b/ c", defs, "must be lower-case"},
		{"a/b/ü", defs, "must be lower-case"},
		{"library:/a/b", defs, "tag"},
		{"bwa", Defaults{}, "no default entity"},
		{"bwa", Defaults{Entity: "e"}, "no default collection"},
		{"c/bwa", Defaults{Collection: "c"}, "no default entity"},
		{"bwa", Defaults{Entity: "Bad", Collection: "c"}, "default entity is not valid"},
		{"bwa", Defaults{Entity: "e", Collection: "x/y"}, "default collection is not valid"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.d)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error", tt.in, got)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q) error %T is not *Error", tt.in, err)
			continue
		}
		if e.Input != tt.in {
			t.Errorf("Parse(%q) Error.Input = %q", tt.in, e.Input)
		}
		if !strings.Contains(err.Error(), tt.inReason) {
			t.Errorf("Parse(%q) error %q does not mention %q", tt.in, err, tt.inReason)
		}
		if got != (Ref{}) {
			t.Errorf("Parse(%q) returned %+v alongside an error", tt.in, got)
		}
	}
}

// Full names never consult the defaults, so callers that always have a full
// path can pass Defaults{}.
func TestParseFullNameIgnoresDefaults(t *testing.T) {
	for _, d := range []Defaults{{}, {Entity: "BAD", Collection: "a/b"}} {
		if _, err := Parse("a/b/c", d); err != nil {
			t.Errorf("Parse with defaults %+v: %v", d, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse("Tools/bwa", defs)
	want := `invalid name "Tools/bwa": "Tools" must be lower-case letters and digits, joined by single '.', '_' or '-'`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}

	// Hostile lengths must not be echoed whole into logs and responses.
	for _, in := range []string{
		strings.Repeat("A", 10000),
		"a/b/" + strings.Repeat("c", 10000),
		"a/b/c:" + strings.Repeat("t", 10000),
		"a/b/c@" + strings.Repeat("x", 10000),
	} {
		_, err := Parse(in, defs)
		if err == nil {
			t.Fatalf("Parse of %d-byte input succeeded", len(in))
		}
		if n := len(err.Error()); n > 4*maxQuotedInput+200 {
			t.Errorf("error for %d-byte input is %d bytes long: %.100s", len(in), n, err)
		}
	}
}

func TestStringAndPath(t *testing.T) {
	r := Ref{Entity: "e", Collection: "c", Container: "n"}
	if r.Path() != "e/c/n" || r.String() != "e/c/n" {
		t.Errorf("Path %q String %q", r.Path(), r.String())
	}
	r.Tag = "v1"
	if r.String() != "e/c/n:v1" {
		t.Errorf("String = %q", r.String())
	}
	r.Digest = hexA
	if r.String() != "e/c/n:v1@sha256."+hexA {
		t.Errorf("String = %q", r.String())
	}
	r.Tag = ""
	if r.String() != "e/c/n@sha256."+hexA {
		t.Errorf("String = %q", r.String())
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "0", "a.b", "a-b", "a_b", "a1.b2-c3_d4", strings.Repeat("z", MaxNameLen)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A", "a.", ".a", "a..b", "a-_b", "a/b", "a:b", "a@b", "a b", strings.Repeat("z", MaxNameLen+1)} {
		err := ValidName(bad)
		var e *Error
		if !errors.As(err, &e) || e.Input != bad {
			t.Errorf("ValidName(%q) = %v, want *Error with Input set", bad, err)
		}
	}
}

func TestValidTag(t *testing.T) {
	for _, ok := range []string{"latest", "v1.0", "_", "A", "0.7.17-r1", "SHA256.x", "sha256", strings.Repeat("t", MaxTagLen)} {
		if err := ValidTag(ok); err != nil {
			t.Errorf("ValidTag(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", ".a", "a/b", "a:b", "a@b", "a b", "sha256.x", "sha256:x", strings.Repeat("t", MaxTagLen+1)} {
		err := ValidTag(bad)
		var e *Error
		if !errors.As(err, &e) || e.Input != bad {
			t.Errorf("ValidTag(%q) = %v, want *Error with Input set", bad, err)
		}
	}
}

func TestParseDigest(t *testing.T) {
	for _, in := range []string{"sha256." + hexA, "sha256:" + hexA} {
		got, err := ParseDigest(in)
		if err != nil || got != hexA {
			t.Errorf("ParseDigest(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{
		"", hexA, "sha256" + hexA, "sha256." + strings.ToUpper(hexA), "SHA256." + hexA,
		"sha256.", "sha256." + hexA[1:], "sha256." + hexA + "a", "sha512:" + hexA, "sha256." + hexA[:63] + "z",
	} {
		got, err := ParseDigest(bad)
		var e *Error
		if !errors.As(err, &e) || got != "" {
			t.Errorf("ParseDigest(%q) = %q, %v; want \"\" and *Error", bad, got, err)
		}
	}
}
