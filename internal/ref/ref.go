// Package ref parses and validates Silo image names such as
// "entity/collection/container:tag@sha256.<hex>". It is the single place that
// knows the naming rules, so every handler rejects a bad name with the same
// words, and it does no I/O so it can be called anywhere.
package ref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxNameLen is the longest accepted path segment. It matches the limit the
// apptainer client enforces before a push, so anything it sends fits.
const MaxNameLen = 128

// MaxTagLen is the longest accepted tag (the OCI distribution limit).
const MaxTagLen = 128

// The segment rule is the one the apptainer client checks names against on
// push; keeping it identical means a name the client accepts is never refused
// here, and nothing the client would refuse ever gets stored.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	tagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// libraryScheme is stripped from inputs because users paste the same string
// they would give `apptainer pull`.
const libraryScheme = "library://"

// digestPrefix is how the library API spells a sha256 image hash, and the
// spelling String uses; digestPrefixOCI is accepted as a courtesy.
const (
	digestPrefix    = "sha256."
	digestPrefixOCI = "sha256:"
)

// Defaults fill the parts a short name leaves out.
type Defaults struct{ Entity, Collection string }

// Ref is a parsed name. Entity, Collection and Container are always set after
// a successful Parse.
type Ref struct {
	Entity, Collection, Container string

	Tag    string // "" when none given (callers default it to "latest")
	Digest string // 64 lower-case hex sha256, "" when none given
}

// Path returns "entity/collection/container", the key that owns tags.
func (r Ref) Path() string {
	return r.Entity + "/" + r.Collection + "/" + r.Container
}

// String returns the canonical spelling, which Parse reads back to an equal
// Ref whatever Defaults it is given, so it is safe to store and log.
func (r Ref) String() string {
	s := r.Path()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + digestPrefix + r.Digest
	}
	return s
}

// Error is every parse or validation failure. Input is what the caller gave;
// Reason says what is wrong with it in words a person can act on.
type Error struct{ Input, Reason string }

// maxQuotedInput bounds how much of a hostile input is echoed back into logs
// and responses.
const maxQuotedInput = 200

func (e *Error) Error() string {
	return "invalid name " + quote(e.Input) + ": " + e.Reason
}

// quote is %q with hostile lengths cut short; the cut is outside the quotes
// so nobody mistakes it for part of the name.
func quote(s string) string {
	if len(s) > maxQuotedInput {
		return fmt.Sprintf("%q...", s[:maxQuotedInput])
	}
	return fmt.Sprintf("%q", s)
}

func fail(input, format string, args ...any) error {
	return &Error{Input: input, Reason: fmt.Sprintf(format, args...)}
}

// reasonOf lets Parse re-report a part's failure against the whole input.
func reasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return err.Error()
}

// Parse reads an image name in any form the library API and the apptainer
// client produce:
//
//	container | collection/container | entity/collection/container
//
// each optionally followed by ":tag", "@sha256.<hex>" (or "@sha256:<hex>"), or
// both, and optionally preceded by "library://" or "/". A hash in the tag
// position (":sha256.<hex>") is how the library API asks for an image by
// content, so it sets Digest rather than Tag. Missing entity and collection are
// taken from d.
func Parse(s string, d Defaults) (Ref, error) {
	if s == "" {
		return Ref{}, fail(s, "name is empty")
	}
	rest := s
	hadScheme := false
	if after, ok := strings.CutPrefix(rest, libraryScheme); ok {
		rest, hadScheme = after, true
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return Ref{}, fail(s, "name has no path")
	}

	var r Ref
	rest, version, hasVersion := strings.Cut(rest, "@")
	if hasVersion {
		if version == "" {
			return Ref{}, fail(s, "nothing follows '@': give a version such as sha256.<64 hex digits>")
		}
		h, err := ParseDigest(version)
		if err != nil {
			return Ref{}, fail(s, "version: %s", reasonOf(err))
		}
		r.Digest = h
	}

	path, tag, hasTag := strings.Cut(rest, ":")
	if hasTag {
		if tag == "" {
			return Ref{}, fail(s, "nothing follows ':': give a tag or leave out the ':'")
		}
		if isDigestLike(tag) {
			h, err := ParseDigest(tag)
			if err != nil {
				return Ref{}, fail(s, "hash in tag position: %s", reasonOf(err))
			}
			if hasVersion {
				return Ref{}, fail(s, "an image hash is given both after ':' and after '@': give it once")
			}
			r.Digest = h
		} else {
			if err := ValidTag(tag); err != nil {
				return Ref{}, fail(s, "%s", reasonOf(err))
			}
			r.Tag = tag
		}
	}

	if path == "" {
		return Ref{}, fail(s, "name has no path before the tag or version")
	}
	if n := strings.Count(path, "/") + 1; n > 3 {
		if hadScheme {
			return Ref{}, fail(s, "library:// names must not include a host: use entity/collection/container, at most 3 parts")
		}
		return Ref{}, fail(s, "name has %d parts separated by '/': at most 3 are allowed (entity/collection/container)", n)
	}
	segs := strings.Split(path, "/")
	for _, seg := range segs {
		if err := ValidName(seg); err != nil {
			return Ref{}, fail(s, "%s", reasonOf(err))
		}
	}

	switch len(segs) {
	case 1:
		r.Entity, r.Collection, r.Container = d.Entity, d.Collection, segs[0]
	case 2:
		r.Entity, r.Collection, r.Container = d.Entity, segs[0], segs[1]
	case 3:
		r.Entity, r.Collection, r.Container = segs[0], segs[1], segs[2]
	}
	if len(segs) < 3 {
		if err := checkDefault(s, "entity", r.Entity); err != nil {
			return Ref{}, err
		}
	}
	if len(segs) < 2 {
		if err := checkDefault(s, "collection", r.Collection); err != nil {
			return Ref{}, err
		}
	}
	return r, nil
}

// checkDefault reports a bad configured default against the user's input, so
// the person reading the error learns that the short form is at fault and
// that the full form would work.
func checkDefault(input, what, v string) error {
	if v == "" {
		return fail(input, "no default %s is configured: give the full entity/collection/container name", what)
	}
	if err := ValidName(v); err != nil {
		return fail(input, "the configured default %s is not valid (%s): give the full entity/collection/container name", what, reasonOf(err))
	}
	return nil
}

// isDigestLike reports whether a tag-position string is meant as a hash. The
// check is on the prefix alone so that a malformed hash gets a digest error
// rather than silently becoming a tag.
func isDigestLike(s string) bool {
	return strings.HasPrefix(s, digestPrefix) || strings.HasPrefix(s, digestPrefixOCI)
}

// ValidName checks one path segment (entity, collection or container).
func ValidName(s string) error {
	switch {
	case s == "":
		return fail(s, "empty path segment: names look like entity/collection/container, with no '//' and no trailing '/'")
	case len(s) > MaxNameLen:
		return fail(s, "%s is %d characters long: at most %d are allowed", quote(s), len(s), MaxNameLen)
	case !nameRE.MatchString(s):
		return fail(s, "%s must be lower-case letters and digits, joined by single '.', '_' or '-'", quote(s))
	}
	return nil
}

// ValidTag checks a tag. Tags starting with "sha256." are refused because
// Parse reads that spelling as an image hash, so such a tag could never be
// asked for by name.
func ValidTag(s string) error {
	switch {
	case s == "":
		return fail(s, "tag is empty")
	case len(s) > MaxTagLen:
		return fail(s, "tag %s is %d characters long: at most %d are allowed", quote(s), len(s), MaxTagLen)
	case isDigestLike(s):
		return fail(s, "tag %s starts with %q, which is reserved for image hashes", quote(s), s[:len(digestPrefix)])
	case !tagRE.MatchString(s):
		return fail(s, "tag %s must start with a letter, digit or '_' and contain only letters, digits, '.', '_' and '-'", quote(s))
	}
	return nil
}

// ParseDigest accepts "sha256.<hex>" (library API spelling) or
// "sha256:<hex>" (OCI spelling) and returns the 64 hex digits. Upper-case hex
// is refused so that one image has exactly one spelling everywhere.
func ParseDigest(s string) (string, error) {
	if s == "" {
		return "", fail(s, "digest is empty")
	}
	hex, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		hex, ok = strings.CutPrefix(s, digestPrefixOCI)
	}
	if !ok {
		return "", fail(s, "digest %s must be sha256.<64 hex digits> or sha256:<64 hex digits>", quote(s))
	}
	if len(hex) != 64 {
		return "", fail(s, "sha256 digest must be 64 hex digits, got %d characters", len(hex))
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			return "", fail(s, "sha256 digest must be lower-case hex")
		default:
			return "", fail(s, "sha256 digest has %q, which is not a hex digit", c)
		}
	}
	return hex, nil
}
