package meta

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Table describes one table of a metadata store as the store itself reports
// it, so that a registry can be copied between backends without a list of
// entity types that every new feature would have to extend.
type Table struct {
	Name    string
	Columns []string // in the table's own order
	Key     []string // the primary key's columns
	Refs    []string // tables its foreign keys point at
}

// Row is one row of a Table, its values in Table.Columns order. Values are
// nil, int64, float64, string, []byte or bool: the common ground of the backends
// (SQLite keeps flags as integers, PostgreSQL as booleans; WriteRows
// converts to what the destination column holds).
type Row []any

// Transient lists tables whose rows are state of the moment rather than of
// the registry: upload sessions in flight (library and OCI) and rate-limit
// windows. A copy leaves them behind. A new table of the same kind adds its
// name here.
var Transient = map[string]bool{
	"uploads":     true,
	"oci_uploads": true, // their bytes are blob-store uploads, which a copy leaves behind too
	"ratelimits":  true,
}

// TableStore reads and writes a store's rows generically. Both backends keep
// the same tables with the same columns, so what one reads the other writes.
type TableStore interface {
	// Tables lists the tables holding registry state (everything but the
	// schema bookkeeping), parents before the children that refer to them.
	Tables(ctx context.Context) ([]Table, error)
	// ReadRows calls fn with every row of each table in ts, table by table
	// in the order given and each in primary-key order, all from one
	// consistent snapshot, so that rows written meanwhile cannot leave a
	// child without its parent. fn may keep the Row.
	ReadRows(ctx context.Context, ts []Table, fn func(Table, Row) error) error
	// WriteRows inserts rows into t, replacing any row with the same
	// primary key, all in one transaction.
	WriteRows(ctx context.Context, t Table, rows []Row) error
	// CountRows counts t's rows.
	CountRows(ctx context.Context, t Table) (int64, error)
	// ClearTables deletes every row of the tables, children first.
	ClearTables(ctx context.Context, ts []Table) error
	// ResetSequences moves every id generator past the largest id stored,
	// after rows were written with their ids given.
	ResetSequences(ctx context.Context) error
}

// SortTables orders tables so that each comes after every table it refers
// to, breaking ties by name so the order is the same on every backend. A
// reference to a table not listed (or to itself) does not constrain.
func SortTables(ts []Table) ([]Table, error) {
	byName := map[string]Table{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	done := map[string]bool{}
	var out []Table
	for len(out) < len(ts) {
		progress := false
		for _, n := range names {
			if done[n] {
				continue
			}
			ready := true
			for _, r := range byName[n].Refs {
				if _, listed := byName[r]; listed && r != n && !done[r] {
					ready = false
					break
				}
			}
			if ready {
				done[n] = true
				out = append(out, byName[n])
				progress = true
				break // restart, so the order is by name among ready tables
			}
		}
		if !progress {
			return nil, fmt.Errorf("meta: tables refer to each other in a cycle")
		}
	}
	return out, nil
}

// UpsertSQL builds INSERT ... ON CONFLICT (key) DO UPDATE for t, in the
// dialect SQLite and PostgreSQL share, for a backend's WriteRows: quote
// makes a name an identifier and param spells the i-th (from 1) parameter.
func UpsertSQL(t Table, quote func(string) string, param func(i int) string) (string, error) {
	if len(t.Key) == 0 {
		return "", fmt.Errorf("table %s has no primary key, so a copy could not be repeated safely", t.Name)
	}
	key := map[string]bool{}
	for _, k := range t.Key {
		key[k] = true
	}
	cols := make([]string, len(t.Columns))
	params := make([]string, len(t.Columns))
	var set []string
	for i, c := range t.Columns {
		cols[i] = quote(c)
		params[i] = param(i + 1)
		if !key[c] {
			set = append(set, quote(c)+" = excluded."+quote(c))
		}
	}
	keys := make([]string, len(t.Key))
	for i, k := range t.Key {
		keys[i] = quote(k)
	}
	q := `INSERT INTO ` + quote(t.Name) + ` (` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.Join(params, ", ") + `) ON CONFLICT (` + strings.Join(keys, ", ") + `) DO `
	if len(set) == 0 {
		return q + `NOTHING`, nil
	}
	return q + `UPDATE SET ` + strings.Join(set, ", "), nil
}
