package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the statement cache. The store's query texts are a fixed
// set (Find's tags, whose IN list is as long as its input, go around the
// cache); should they ever outgrow it, those beyond the bound run
// unprepared rather than grow the cache forever.
const maxStmts = 256

// db is the database with every query text prepared once. modernc's SQL
// parser is slow enough that parsing a statement anew on each call was a
// third of a manifest GET's CPU; a *sql.Stmt keeps one compiled statement
// per connection and reuses it.
type db struct {
	*sql.DB

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newDB(d *sql.DB) *db {
	// Keep connections (and so their compiled statements) between bursts
	// of requests; database/sql's default of 2 idle connections closed all
	// but two after each burst, and opening one re-runs every pragma.
	d.SetMaxIdleConns(16)
	return &db{DB: d, stmts: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement for query, or nil when it cannot be
// kept (the cache is full, or preparing failed: running it unprepared then
// reports the error the caller expects).
func (d *db) stmt(ctx context.Context, query string) *sql.Stmt {
	d.mu.RLock()
	st := d.stmts[query]
	d.mu.RUnlock()
	if st != nil {
		return st
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st = d.stmts[query]; st != nil || len(d.stmts) >= maxStmts {
		return st
	}
	// Not tied to the request's context: the statement outlives it.
	st, err := d.DB.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	d.stmts[query] = st
	return st
}

// QueryRowContext is sql.DB's, through the statement cache.
func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}

// QueryContext is sql.DB's, through the statement cache.
func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

// ExecContext is sql.DB's, through the statement cache.
func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

// Close closes the cached statements, then the database.
func (d *db) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.DB.Close()
}
