package main

import (
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/backend/backendtest"
)

// TestMigrate: `silo migrate` makes the schema on the configured stores
// (twice is harmless), after which offline verbs work on them; bad store
// URLs are refused with the reason.
func TestMigrate(t *testing.T) {
	cfg := backendtest.Config(t, t.TempDir())
	for range 2 {
		out, _, err := runSilo(t, backendtest.Args(cfg, "migrate")...)
		if err != nil || out != "the metadata schema is up to date\n" {
			t.Fatalf("migrate: %v %q", err, out)
		}
	}
	if _, _, err := runSilo(t, backendtest.Args(cfg, "user", "add", "alice")...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, value, want string }{
		{"--db", "mysql://root:hunter2@db/silo", `unknown kind of database "mysql"`},
		{"--store", "gs://bucket", `unknown kind of store "gs"`},
	} {
		_, _, err := runSilo(t, "migrate", "--data", t.TempDir(), tc.flag, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("migrate %s %s: %v, want an error saying %q without the password", tc.flag, tc.value, err, tc.want)
		}
	}
}
