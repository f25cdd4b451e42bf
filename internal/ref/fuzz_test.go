package ref

import (
	"errors"
	"regexp"
	"testing"
)

// These restate the naming rules from the spec rather than reuse the
// package's own patterns, so a mistake in one is caught by the other.
var (
	specName   = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	specTag    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	specDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "bwa", "tools/bwa", "alice/tools/bwa:0.7.17", "a/b/c@sha256." + hexA,
		"a/b/c:v1@sha256:" + hexB, "a/b/c:sha256." + hexA, "library://a/b/c",
		"library://h/a/b/c", "/a/b", "a//b", "a/b:", "a/b@", "Tools/bwa",
		"a/b/c:sha256.abc", "a/b/c:-x", "a.b_c-d/e", "a/b/c:SHA256.x", "::@@//",
	} {
		f.Add(s, "library", "default")
	}
	f.Add("x", "", "")
	f.Add("x/y", "Bad", "")

	f.Fuzz(func(t *testing.T, s, ent, col string) {
		r, err := Parse(s, Defaults{Entity: ent, Collection: col})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T is not *Error", s, err)
			}
			if e.Input != s || e.Reason == "" {
				t.Fatalf("Parse(%q) Error = %+v", s, e)
			}
			if r != (Ref{}) {
				t.Fatalf("Parse(%q) returned %+v with an error", s, r)
			}
			return
		}
		for _, seg := range []string{r.Entity, r.Collection, r.Container} {
			if len(seg) > MaxNameLen || !specName.MatchString(seg) {
				t.Fatalf("Parse(%q) accepted bad segment %q", s, seg)
			}
		}
		if r.Tag != "" && !specTag.MatchString(r.Tag) {
			t.Fatalf("Parse(%q) accepted bad tag %q", s, r.Tag)
		}
		if r.Digest != "" && !specDigest.MatchString(r.Digest) {
			t.Fatalf("Parse(%q) accepted bad digest %q", s, r.Digest)
		}
		back, err := Parse(r.String(), Defaults{})
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its String %q does not parse: %v", s, r, r.String(), err)
		}
		if back != r {
			t.Fatalf("round trip of %q: %+v != %+v", s, back, r)
		}
	})
}
