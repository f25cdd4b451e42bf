package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/siloreg/silo/internal/meta"
)

// This file implements meta.TableStore from PostgreSQL's catalogue (the
// tables of the schema first on the search path), so a table added by a
// later migration is copied without touching this code.

// quote makes name an SQL identifier whatever it holds.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// Tables lists the schema's tables but schema_version, parents first.
func (s *Store) Tables(ctx context.Context) ([]meta.Table, error) {
	rows, err := s.pool.Query(ctx, `
SELECT c.relname,
	ARRAY(SELECT a.attname::text FROM pg_attribute a
		WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
	COALESCE((SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o)
		FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), '{}'),
	ARRAY(SELECT DISTINCT f.relname::text FROM pg_constraint k JOIN pg_class f ON f.oid = k.confrelid
		WHERE k.conrelid = c.oid AND k.contype = 'f')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_version'`)
	if err != nil {
		return nil, err
	}
	var ts []meta.Table
	for rows.Next() {
		var t meta.Table
		if err := rows.Scan(&t.Name, &t.Columns, &t.Key, &t.Refs); err != nil {
			rows.Close()
			return nil, err
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return meta.SortTables(ts)
}

// columnTypes returns the type of each of table's columns (boolean, jsonb, ...).
func columnTypes(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, table string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT a.attname::text, format_type(a.atttypid, NULL)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped`, table)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			rows.Close()
			return nil, err
		}
		types[n] = t
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("no table %q", table)
	}
	return types, nil
}

// ReadRows reads in one read-only REPEATABLE READ transaction: every table
// from the same snapshot.
func (s *Store) ReadRows(ctx context.Context, ts []meta.Table, fn func(meta.Table, meta.Row) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, t := range ts {
		if err := readTable(ctx, tx, t, fn); err != nil {
			return fmt.Errorf("read %s: %w", t.Name, err)
		}
	}
	return tx.Commit(ctx)
}

func readTable(ctx context.Context, tx pgx.Tx, t meta.Table, fn func(meta.Table, meta.Row) error) error {
	types, err := columnTypes(ctx, tx, t.Name)
	if err != nil {
		return err
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quote(c)
		if types[c] == "json" || types[c] == "jsonb" {
			// As text, the way SQLite keeps it, not decoded into Go maps.
			cols[i] += "::text"
		}
	}
	order := make([]string, len(t.Key))
	for i, c := range t.Key {
		order[i] = quote(c)
	}
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + quote(t.Name)
	if len(order) > 0 {
		q += ` ORDER BY ` + strings.Join(order, ", ")
	}
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		r := make(meta.Row, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil, int64, string, []byte, bool, float64:
				r[i] = v
			case int32:
				r[i] = int64(v)
			case int16:
				r[i] = int64(v)
			case float32:
				r[i] = float64(v)
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

// WriteRows upserts rows by primary key in one transaction, sent as one
// batch. Flags arrive as integers from SQLite and labels as JSON text, and
// are converted to the column's type here.
func (s *Store) WriteRows(ctx context.Context, t meta.Table, rows []meta.Row) error {
	q, err := meta.UpsertSQL(t, quote, func(i int) string { return fmt.Sprintf("$%d", i) })
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	types, err := columnTypes(ctx, tx, t.Name)
	if err != nil {
		return fmt.Errorf("write %s: %w", t.Name, err)
	}
	var b pgx.Batch
	for _, r := range rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("write %s: row of %d values for %d columns", t.Name, len(r), len(t.Columns))
		}
		args := make([]any, len(r))
		for i, v := range r {
			if types[t.Columns[i]] == "boolean" {
				if n, ok := v.(int64); ok {
					v = n != 0
				}
			}
			args[i] = v
		}
		b.Queue(q, args...)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("write %s: %w", t.Name, mapErr(err))
	}
	return tx.Commit(ctx)
}

// CountRows counts t's rows.
func (s *Store) CountRows(ctx context.Context, t meta.Table) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+quote(t.Name)).Scan(&n)
	return n, err
}

// ClearTables deletes every row of ts, children (the later tables) first.
func (s *Store) ClearTables(ctx context.Context, ts []meta.Table) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for i := len(ts) - 1; i >= 0; i-- {
		if _, err := tx.Exec(ctx, `DELETE FROM `+quote(ts[i].Name)); err != nil {
			return fmt.Errorf("clear %s: %w", ts[i].Name, err)
		}
	}
	return tx.Commit(ctx)
}

// ResetSequences sets every serial column's sequence so its next value is
// one past the column's largest, since rows written with their ids given
// do not advance it and the next CREATE would otherwise collide.
func (s *Store) ResetSequences(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `
SELECT c.relname::text, a.attname::text, pg_get_serial_sequence(quote_ident(c.relname), a.attname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
	AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL`)
	if err != nil {
		return err
	}
	type serial struct{ table, column, seq string }
	var ss []serial
	for rows.Next() {
		var x serial
		if err := rows.Scan(&x.table, &x.column, &x.seq); err != nil {
			rows.Close()
			return err
		}
		ss = append(ss, x)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range ss {
		if _, err := s.pool.Exec(ctx, `SELECT setval($1::regclass, COALESCE((SELECT max(`+quote(x.column)+`) FROM `+quote(x.table)+`), 0) + 1, false)`, x.seq); err != nil {
			return fmt.Errorf("reset %s: %w", x.seq, err)
		}
	}
	return nil
}
