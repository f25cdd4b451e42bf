package server

import (
	"strings"
	"testing"
)

func TestRedactShareSecrets(t *testing.T) {
	secret := "Q2hpY2tlbnMgYXJlIG5vdCBzZWNyZXRzIGJ1dCB0aGlzIGlz"
	for _, p := range []string{"/s/" + secret, "/s/" + secret + "/tool_v1.sif"} {
		if got := redact(p); strings.Contains(got, secret) || !strings.HasPrefix(got, "/s/") {
			t.Errorf("redact(%q) = %q", p, got)
		}
	}
	if got := redact("/s/" + secret + "/tool_v1.sif"); !strings.HasSuffix(got, "/tool_v1.sif") {
		t.Errorf("redact dropped the file name: %q", got)
	}
	if got := redact("/v1/images/a/b/c:latest"); got != "/v1/images/a/b/c:latest" {
		t.Errorf("redact changed a path without a secret: %q", got)
	}
}
