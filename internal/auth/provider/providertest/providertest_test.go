package providertest

import (
	"fmt"
	"testing"
)

// recorder stands in for a test so that Missing's choice can be observed
// without skipping or failing this test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = fmt.Sprintf(f, args...) }

func TestMissing(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Missing(r, "INSTALL %s: needed", "slapd")
	if r.skipped != "INSTALL slapd: needed" || r.failed != "" {
		t.Errorf("outside CI: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	}

	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	Missing(r, "INSTALL %s: needed", "slapd")
	if r.skipped != "" || r.failed == "" {
		t.Errorf("in CI: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}
