package metatest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

func testSettings(t *testing.T, s meta.Store) {
	ctx := t.Context()
	setting := func(key, want string) {
		t.Helper()
		got, err := s.Setting(ctx, key)
		if err != nil || got != want {
			t.Errorf("Setting(%q) = %q, %v; want %q, nil", key, got, err, want)
		}
	}
	initSetting := func(key, value, want string) {
		t.Helper()
		got, err := s.InitSetting(ctx, key, value)
		if err != nil || got != want {
			t.Errorf("InitSetting(%q, %q) = %q, %v; want %q, nil", key, value, got, err, want)
		}
	}

	_, err := s.Setting(ctx, "signing-key")
	wantErr(t, "Setting(unset)", err, meta.ErrNotFound)

	initSetting("signing-key", "first", "first")
	setting("signing-key", "first")
	// Once set, a value stays: a later node must adopt it, not replace it.
	initSetting("signing-key", "second", "first")
	setting("signing-key", "first")

	// Keys are independent, and an empty value is a value, not "unset".
	initSetting("empty", "", "")
	setting("empty", "")
	initSetting("empty", "late", "")
	setting("signing-key", "first")
	_, err = s.Setting(ctx, "signing-key-2")
	wantErr(t, "Setting(a key that only shares a prefix)", err, meta.ErrNotFound)

	// Values are opaque text of any length.
	big := strings.Repeat("0123456789abcdef", 4096) + "\n✓ 'quoted' \"too\" \\ %_"
	initSetting("big", big, big)
	setting("big", big)
}

// testRaceInitSetting has workers initialise one key at once, each with its
// own value, as nodes starting together would: all must come away agreeing
// on one of the proposed values.
func testRaceInitSetting(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for round := range 5 {
		key := fmt.Sprint("key-", round)
		var mu sync.Mutex
		got := map[string]int{}
		startTogether(func(w int) {
			v, err := s.InitSetting(ctx, key, fmt.Sprint("value-", w))
			if err != nil {
				t.Errorf("round %d, worker %d: InitSetting: %v", round, w, err)
				return
			}
			mu.Lock()
			got[v]++
			mu.Unlock()
		})
		if len(got) != 1 {
			t.Errorf("round %d: workers came away with %d different values %v, want one", round, len(got), got)
			continue
		}
		for v, n := range got {
			if !strings.HasPrefix(v, "value-") || n != workers {
				t.Errorf("round %d: %d workers got %q, want all %d to get one of the proposed values", round, n, v, workers)
			}
			if stored, err := s.Setting(ctx, key); err != nil || stored != v {
				t.Errorf("round %d: Setting = %q, %v; want %q", round, stored, err, v)
			}
		}
	}
}
