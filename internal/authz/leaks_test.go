package authz_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// bothNames matches the real collection's name and the twin's, as whole
// words, so that the answers about the one and the other can be compared.
var bothNames = regexp.MustCompile(`\b(` + collection + `|` + twinCollection + `[0-9]{4})\b`)

// variable lists what differs between a probe's real run and its twin's
// besides the collection's name, as patterns: the link secrets, and the
// container ids as whole numbers.
func variable(real, twin names) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, l := range []string{real.link, twin.link} {
		if l != "" {
			out = append(out, regexp.MustCompile(regexp.QuoteMeta(secretOf(l))))
		}
	}
	for _, id := range []string{real.containerID, twin.containerID} {
		out = append(out, regexp.MustCompile(`\b`+id+`\b`))
	}
	return out
}

// normalize makes an answer about the real name comparable with the
// twin's: both names, and what else must differ (vars), become a
// placeholder. Nothing else changes, so what remains must match byte for
// byte.
func normalize(s string, vars []*regexp.Regexp) string {
	for _, re := range vars {
		s = re.ReplaceAllString(s, placeholder)
	}
	return bothNames.ReplaceAllString(s, placeholder)
}

// sameAsMissing checks that a hidden image's answers are those of a name
// that does not exist: the same requests, statuses and bodies, byte for
// byte once the two names are set aside, and the same headers. Any
// difference tells the caller the image is there.
func sameAsMissing(t *testing.T, what string, real, twin []exchange, vars []*regexp.Regexp) {
	t.Helper()
	differ := len(real) != len(twin)
	for i := 0; !differ && i < len(real); i++ {
		r, m := real[i], twin[i]
		differ = r.Method != m.Method || r.Status != m.Status ||
			normalize(r.URL, vars) != normalize(m.URL, vars) ||
			normalize(headers(r.Header), vars) != normalize(headers(m.Header), vars) ||
			normalize(string(r.Body), vars) != normalize(string(m.Body), vars)
	}
	if differ {
		t.Errorf("%s: the hidden image's answers differ from a missing name's:\n hidden:\n%s missing:\n%s", what, trace(real), trace(twin))
	}
}

// headers formats h for comparison, leaving out those that differ
// between any two answers (the time, the request's id) and the length,
// which the bodies' comparison covers (an id may be longer than a
// twin's).
func headers(h http.Header) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if k != "Date" && k != "X-Request-Id" && k != "Content-Length" {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
		}
	}
	return b.String()
}

// forbidden are the private image's words: its entity, collection and
// container names (as whole words, so "apptainer" or "application/json"
// are not hits) and its digest, in hex and in the base64 of the Digest
// header.
func forbidden(digest string) map[string]*regexp.Regexp {
	raw, _ := hex.DecodeString(digest)
	return map[string]*regexp.Regexp{
		entity:          regexp.MustCompile(`(?i)\b` + entity + `\b`),
		collection:      regexp.MustCompile(`(?i)\b` + collection + `\b`),
		container:       regexp.MustCompile(`(?i)\b` + container + `\b`),
		"digest":        regexp.MustCompile(`(?i)` + digest),
		"digest base64": regexp.MustCompile(regexp.QuoteMeta(base64.StdEncoding.EncodeToString(raw))),
	}
}

// noLeaks checks that no answer to someone who may not see the private
// image names it, in a body or a header. An answer may repeat what the
// probe's own requests said (a 404 that echoes the name asked for tells
// the caller nothing new); it may not add to it.
func noLeaks(t *testing.T, what string, ex []exchange, digest string) {
	t.Helper()
	var asked strings.Builder
	for _, e := range ex {
		asked.WriteString(e.URL + "\n")
		asked.Write(e.ReqBody)
		asked.WriteString("\n")
	}
	for word, re := range forbidden(digest) {
		if re.MatchString(asked.String()) {
			continue
		}
		for _, e := range ex {
			answer := headers(e.Header) + string(e.Body)
			if loc := re.FindStringIndex(answer); loc != nil {
				t.Errorf("%s: an answer names the private image (%s, %q), which the caller may not see: %s",
					what, word, answer[loc[0]:loc[1]], e)
			}
		}
	}
}
