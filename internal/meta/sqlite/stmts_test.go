package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatementCache checks that cached statements answer like unprepared
// ones, that the cache stops growing at its bound while queries past it
// still run, and that a bad query still reports its error.
func TestStatementCache(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "meta.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	for i := range maxStmts + 20 {
		// Distinct texts, as an IN list of growing length makes.
		q := fmt.Sprintf(`SELECT %d + ?`, i)
		for range 2 {
			var n int
			if err := s.db.QueryRowContext(ctx, q, 1).Scan(&n); err != nil || n != i+1 {
				t.Fatalf("%s: got %d, %v; want %d", q, n, err, i+1)
			}
		}
	}
	s.db.mu.RLock()
	n := len(s.db.stmts)
	s.db.mu.RUnlock()
	if n != maxStmts {
		t.Errorf("%d statements cached; want the bound, %d", n, maxStmts)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE no_such_table SET x = 1`); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("a bad statement gave %v; want its error", err)
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT nonsense FROM`).Scan(&one); err == nil {
		t.Error("a syntax error was not reported")
	}
}
