package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/siloreg/silo/internal/meta"
)

// This file implements meta.TableStore from SQLite's own catalogue, so a
// table added by a later migration is copied without touching this code.

// quote makes name an SQL identifier whatever it holds.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Tables lists every table but SQLite's own and schema_version, parents first.
func (s *Store) Tables(ctx context.Context) ([]meta.Table, error) {
	names, err := queryStrings(ctx, s.db, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_version'`)
	if err != nil {
		return nil, err
	}
	var ts []meta.Table
	for _, n := range names {
		t := meta.Table{Name: n}
		cols, err := s.columns(ctx, n)
		if err != nil {
			return nil, err
		}
		pk := map[int]string{}
		for _, c := range cols {
			t.Columns = append(t.Columns, c.name)
			if c.pk > 0 {
				pk[c.pk] = c.name
			}
		}
		for i := 1; i <= len(pk); i++ {
			t.Key = append(t.Key, pk[i])
		}
		if t.Refs, err = queryStrings(ctx, s.db, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, n); err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return meta.SortTables(ts)
}

type column struct {
	name, typ string
	pk        int // position in the primary key, from 1; 0 for none
}

func (s *Store) columns(ctx context.Context, table string) ([]column, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, upper(type), pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.pk); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %q", table)
	}
	return cols, nil
}

func queryStrings(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ReadRows reads in one deferred transaction on one connection: in WAL mode
// that is a snapshot, and unlike the store's usual BEGIN IMMEDIATE it does
// not hold writers off while the rows stream out.
func (s *Store) ReadRows(ctx context.Context, ts []meta.Table, fn func(meta.Table, meta.Row) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`) //nolint:errcheck // read-only
	for _, t := range ts {
		if err := readTable(ctx, conn, t, fn); err != nil {
			return fmt.Errorf("read %s: %w", t.Name, err)
		}
	}
	return nil
}

func readTable(ctx context.Context, conn *sql.Conn, t meta.Table, fn func(meta.Table, meta.Row) error) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quote(c)
	}
	order := make([]string, len(t.Key))
	for i, c := range t.Key {
		order[i] = quote(c)
	}
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + quote(t.Name)
	if len(order) > 0 {
		q += ` ORDER BY ` + strings.Join(order, ", ")
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r := make(meta.Row, len(cols))
		ptrs := make([]any, len(cols))
		for i := range r {
			ptrs[i] = &r[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range r {
			switch v.(type) {
			case nil, int64, string, []byte, float64:
			default:
				return fmt.Errorf("column %s: unexpected value of type %T", t.Columns[i], v)
			}
		}
		if err := fn(t, r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// WriteRows upserts rows by primary key in one transaction. Flags arrive as
// booleans from PostgreSQL and are stored as SQLite's 0 and 1.
func (s *Store) WriteRows(ctx context.Context, t meta.Table, rows []meta.Row) error {
	q, err := meta.UpsertSQL(t, quote, func(int) string { return "?" })
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("write %s: %w", t.Name, err)
	}
	defer st.Close()
	args := make([]any, len(t.Columns))
	for _, r := range rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("write %s: row of %d values for %d columns", t.Name, len(r), len(t.Columns))
		}
		for i, v := range r {
			if b, ok := v.(bool); ok {
				v = int64(0)
				if b {
					v = int64(1)
				}
			}
			args[i] = v
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("write %s: %w", t.Name, mapErr(err))
		}
	}
	return tx.Commit()
}

// CountRows counts t's rows.
func (s *Store) CountRows(ctx context.Context, t meta.Table) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(t.Name)).Scan(&n)
	return n, err
}

// ClearTables deletes every row of ts, children (the later tables) first.
func (s *Store) ClearTables(ctx context.Context, ts []meta.Table) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := len(ts) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+quote(ts[i].Name)); err != nil {
			return fmt.Errorf("clear %s: %w", ts[i].Name, err)
		}
	}
	return tx.Commit()
}

// ResetSequences has nothing to do: an AUTOINCREMENT table's counter in
// sqlite_sequence already moves past any id inserted explicitly.
func (s *Store) ResetSequences(ctx context.Context) error { return nil }
