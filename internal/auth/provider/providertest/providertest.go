// Package providertest holds what the provider tests share: the rule for a
// test whose real component (slapd, libpam, a PAM module) is not installed.
package providertest

import (
	"fmt"
	"os"
	"testing"
)

// Missing reports that a component the test needs is not installed. On a
// developer's machine the test is skipped, loudly, with the install hint in
// the message; when CI=true it fails instead, because CI must run every
// provider test against the real thing and a skip there would hide a missing
// install step in .ci/run.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: provider tests must not be skipped)", msg)
	} else {
		t.Skip(msg)
	}
}
