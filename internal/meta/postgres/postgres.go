// Package postgres is the shared metadata store: several Silo nodes point at
// one PostgreSQL database and see one registry. It keeps the same tables and
// the same encodings as the SQLite store (times as Unix nanoseconds, labels
// as JSON), so the two pass the same suite, metatest, and behave alike.
//
// It talks to PostgreSQL through pgxpool rather than pgx's database/sql
// adapter: the native interface carries BOOLEAN, BYTEA, JSONB and BIGINT[]
// parameters without database/sql's conversions, exposes SQLSTATEs and
// RowsAffected directly, and is one pool rather than database/sql's pool
// wrapped around pgx's connections.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/siloreg/silo/internal/meta"
)

// Store is a meta.Store backed by a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
}

var _ meta.Store = (*Store)(nil)

// migrateLock is the pg_advisory_xact_lock key that serialises migrations,
// so nodes starting together against one database migrate it exactly once.
// It is "silometa" in ASCII: a constant no other program is likely to use.
const migrateLock int64 = 0x73696c6f6d657461

// Open connects to the database named by dsn (a libpq URL or key=value
// string) and applies migrations. The returned error never repeats dsn,
// which may hold a password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors already redact the password.
		return nil, fmt.Errorf("metadata database: %w", err)
	}
	where := fmt.Sprintf("%s on %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata database %s: %w", where, err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("metadata database %s: %w", where, err)
	}
	return s, nil
}

// migrate brings the schema up to date in one transaction. The advisory
// lock makes concurrent Opens queue here: without it two nodes could both
// read version 0 and both try to create the tables (or, worse, both run a
// data migration). The lock is released with the transaction.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op once committed
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this silo (%d): upgrade silo", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		// No arguments: pgx sends it over the simple protocol, which
		// accepts several statements in one string.
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Close closes every connection, waiting for those in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

// ts and fromTS store times as meta.Stamp does, the same in every backend.
func ts(t time.Time) int64 { return meta.Stamp(t) }

func fromTS(n int64) time.Time { return meta.FromStamp(n) }

func now() time.Time { return time.Now().UTC() }

// SQLSTATEs this package tells apart.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// sqlState returns err's SQLSTATE, or "" if PostgreSQL did not send one.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// mapErr turns driver errors into the meta package's sentinels.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return meta.ErrNotFound
	case sqlState(err) == uniqueViolation:
		return fmt.Errorf("%w: %v", meta.ErrConflict, err)
	}
	return err
}

// insert runs an INSERT ... RETURNING id and returns the id.
func (s *Store) insert(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&id); err != nil {
		return 0, mapErr(err)
	}
	return id, nil
}

// exec runs a statement that must touch one row; none is ErrNotFound.
func (s *Store) exec(ctx context.Context, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return meta.ErrNotFound
	}
	return nil
}

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner interface{ Scan(...any) error }

// scanAll reads every row with scan and closes rows.
func scanAll[T any](rows pgx.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// query runs a query and reads every row with scan.
func query[T any](ctx context.Context, s *Store, scan func(scanner) (*T, error), sql string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scan)
}
