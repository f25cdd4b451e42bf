package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/backend"
	"github.com/siloreg/silo/internal/regcopy"
)

// side is one end of a copy as its flags name it.
type side struct{ data, db, store string }

func (s side) String() string {
	switch {
	case s.db != "" && s.store != "":
		return "the database and object store given"
	case s.db != "":
		return "the database given and files in " + s.data
	case s.store != "":
		return "the object store given and the database in " + s.data
	}
	return s.data
}

// check says what is missing from a side's flags, which are named by dir
// ("from" or "to").
func (s side) check(dir string) error {
	if s.data == "" && (s.db == "" || s.store == "") {
		return fmt.Errorf("say where to copy %s: --%s-data DIR, or --%s-db and --%s-store (with --%s-data when only one of them is given)", dir, dir, dir, dir, dir)
	}
	return nil
}

// same reports whether two sides are spelt so that they are surely one
// registry; copying a registry onto itself would only waste time, but
// --replace would empty it first.
func (s side) same(o side) bool {
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return filepath.Clean(a)
	}
	sameData := abs(s.data) == abs(o.data)
	return s.db == o.db && s.store == o.store &&
		(sameData || (s.db != "" && s.store != ""))
}

// open opens a side's stores; one wholly on PostgreSQL and S3 needs no
// data directory.
func (s side) open(ctx context.Context) (st regcopy.Stores, done func(), err error) {
	m, b, err := backend.Open(ctx, backend.Config{Data: s.data, DB: s.db, Store: s.store})
	if err != nil {
		return st, nil, err
	}
	return regcopy.Stores{Meta: m, Blobs: b}, func() { m.Close() }, nil
}

func newCopyCmd() *cobra.Command {
	var from, to side
	var replace bool
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Copy a whole registry to other stores (SQLite and files to PostgreSQL and S3, or back)",
		Long: `Copy everything a registry holds from one pair of stores to another: every
account, password hash and token hash, team, collection, container, image,
tag, share link, audit event and setting (the URL signing key too, so links
handed out stay valid), with their ids; and every blob, re-hashed on the way
and refused if its bytes do not match its name. Upload sessions in flight
and rate-limit counters stay behind.

Each side is a data directory (SQLite and files, as 'silo serve --data'),
or a PostgreSQL URL and an s3:// store URL as 'silo serve --db' and '--store'
take them (S3 credentials from the AWS environment), or a mix.

Run it again at will: rows are written by id and blobs already there are
skipped, so a second run changes nothing and an interrupted run is finished
by running it again. It refuses a destination that holds some other
registry unless --replace, which empties it first. The source is only
read; stop its servers for an exact copy, since what they write after the
copy begins may be missed. Rows deleted from the source after an earlier
copy are not deleted from the destination: use --replace for that.
Afterwards 'silo fsck --verify' on the destination checks every byte.`,
		Example: `  silo copy --from-data ./silo-data \
    --to-db postgres://silo@db.example.org/silo \
    --to-store 's3://silo-images/prod?endpoint=https://s3.example.org&path-style=true'
  silo copy --from-db postgres://silo@db/silo --from-store s3://silo-images --to-data ./backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := from.check("from"); err != nil {
				return err
			}
			if err := to.check("to"); err != nil {
				return err
			}
			if from.same(to) {
				return errors.New("the source and the destination are the same stores")
			}
			ctx := cmd.Context()
			src, closeSrc, err := from.open(ctx)
			if err != nil {
				return fmt.Errorf("source: %w", err)
			}
			defer closeSrc()
			dst, closeDst, err := to.open(ctx)
			if err != nil {
				return fmt.Errorf("destination: %w", err)
			}
			defer closeDst()
			errw := cmd.ErrOrStderr()
			rep, err := regcopy.Copy(ctx, src, dst, regcopy.Options{
				Replace:  replace,
				Progress: func(f string, a ...any) { fmt.Fprintf(errw, f+"\n", a...) },
			})
			if err != nil {
				return err
			}
			var rows int64
			for _, n := range rep.Rows {
				rows += n
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %d rows and %d blobs (%d already there; %s) from %s to %s\n",
				rows, rep.BlobsCopied, rep.BlobsKept, humanBytes(rep.Bytes), from, to)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from.data, "from-data", "", "source data directory")
	f.StringVar(&from.db, "from-db", "", "source PostgreSQL URL (postgres://...)")
	f.StringVar(&from.store, "from-store", "", "source object store (s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true])")
	f.StringVar(&to.data, "to-data", "", "destination data directory")
	f.StringVar(&to.db, "to-db", "", "destination PostgreSQL URL")
	f.StringVar(&to.store, "to-store", "", "destination object store (s3://...)")
	f.BoolVar(&replace, "replace", false, "empty the destination first: needed when it holds another registry, and drops rows deleted from the source since an earlier copy")
	return cmd
}
