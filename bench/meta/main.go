// Command meta measures the metadata store at registry scale: it fills an
// empty SQLite and an empty PostgreSQL store with the same registry (by
// default 100,000 images) and times the lookups a pull makes and the
// searches users run, through the meta.Store interface the server uses. It
// prints a table and asserts nothing.
//
//	go run ./bench/meta [-images 100000] [-backends sqlite,postgres] [-n 20000]
//	bench/meta.sh                       # the same, from anywhere
//
// The registry is 10 collections per entity, 10 containers per collection
// and 10 images per container, each image tagged, with labels and a
// description, so its shape (not only its size) resembles a real one. It is
// written through meta.TableStore, in batches: filling 100,000 images one
// synced transaction at a time would measure the disk, not the store.
// PostgreSQL is SILO_TEST_POSTGRES (default the local test server), in a
// schema made for the run and dropped after it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/siloreg/silo/bench/pgschema"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/meta/postgres"
	"github.com/siloreg/silo/internal/meta/sqlite"
)

func main() {
	images := flag.Int("images", 100000, "images in the registry (a multiple of 1000)")
	backends := flag.String("backends", "sqlite,postgres", "stores to measure")
	n := flag.Int("n", 20000, "name lookups per measurement")
	reps := flag.Int("reps", 15, "runs of each search")
	workers := flag.Int("workers", 4, "concurrent lookups for the throughput row")
	flag.Parse()
	if *images < 1000 || *images%1000 != 0 {
		fmt.Fprintln(os.Stderr, "meta: -images must be a positive multiple of 1000")
		os.Exit(2)
	}
	ctx := context.Background()
	var results []result
	for _, b := range strings.Split(*backends, ",") {
		r, err := measure(ctx, b, *images, *n, *reps, *workers)
		if err != nil {
			fmt.Fprintf(os.Stderr, "meta: %s: %v\n", b, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	print(results, *images, *n, *reps, *workers)
}

// open returns an empty store of the given kind and a function that
// removes it.
func open(ctx context.Context, kind string) (meta.Store, func(), error) {
	switch kind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "silo-bench-meta-")
		if err != nil {
			return nil, nil, err
		}
		s, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return s, func() { s.Close(); os.RemoveAll(dir) }, nil
	case "postgres":
		dsn, drop, err := pgschema.Fresh(ctx)
		if err != nil {
			return nil, nil, err
		}
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			drop()
			return nil, nil, err
		}
		return s, func() { s.Close(); drop() }, nil
	}
	return nil, nil, fmt.Errorf("unknown backend %q (want sqlite or postgres)", kind)
}

// result is one backend's numbers.
type result struct {
	kind     string
	fill     time.Duration
	resolve  stats // entity → collection → container → tags → image, one goroutine
	parallel float64
	digest   stats
	searches []search
}

type search struct {
	name string
	hits int
	lat  stats
}

func measure(ctx context.Context, kind string, images, n, reps, workers int) (result, error) {
	r := result{kind: kind}
	s, done, err := open(ctx, kind)
	if err != nil {
		return r, err
	}
	defer done()
	fmt.Fprintf(os.Stderr, "%s: filling %d images\n", kind, images)
	start := time.Now()
	w, err := fill(ctx, s, images)
	if err != nil {
		return r, fmt.Errorf("fill: %w", err)
	}
	r.fill = time.Since(start)

	fmt.Fprintf(os.Stderr, "%s: lookups\n", kind)
	if r.resolve, err = timeEach(n, func(i int) error { return w.resolve(ctx, s, i) }); err != nil {
		return r, err
	}
	if r.parallel, err = throughput(n, workers, func(i int) error { return w.resolve(ctx, s, i) }); err != nil {
		return r, err
	}
	if r.digest, err = timeEach(n, func(i int) error {
		im := w.pick(i)
		_, err := s.ImageByDigest(ctx, w.containerID(im), digestOf(im))
		return err
	}); err != nil {
		return r, err
	}

	fmt.Fprintf(os.Stderr, "%s: searches\n", kind)
	for _, q := range []struct {
		name string
		q    meta.Query
	}{
		{"library search, common word (limit 200)", meta.Query{Text: "samtools", Limit: 200}},
		{"silo search, common word (no limit)", meta.Query{Text: "samtools"}},
		{"search, one container's name", meta.Query{Text: contName((images/10/2/len(words))*len(words) + 1), Limit: 200}},
		{"search, label value", meta.Query{Text: "pipeline-7", Limit: 200}},
		{"search, no match", meta.Query{Text: "zzz-nothing", Limit: 200}},
		{"list one entity (silo ls)", meta.Query{Entity: entityName(3)}},
		{"newest 50, no filter", meta.Query{Limit: 50}},
	} {
		var hits int
		st, err := timeEach(reps, func(int) error {
			recs, err := s.Find(ctx, q.q)
			hits = len(recs)
			return err
		})
		if err != nil {
			return r, fmt.Errorf("%s: %w", q.name, err)
		}
		r.searches = append(r.searches, search{q.name, hits, st})
	}
	return r, nil
}

func print(rs []result, images, n, reps, workers int) {
	fmt.Printf("metadata store, %d images (%d containers, %d collections, %d entities); median (p95) per operation\n\n",
		images, images/10, images/100, images/1000)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.Debug)
	head := "operation\t"
	for _, r := range rs {
		head += r.kind + "\t"
	}
	fmt.Fprintln(tw, head)
	row := func(name string, cell func(r result) string) {
		line := name + "\t"
		for _, r := range rs {
			line += cell(r) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	row("fill (batched rows)", func(r result) string { return r.fill.Round(time.Millisecond).String() })
	row(fmt.Sprintf("resolve name:tag → image (%d lookups)", n), func(r result) string { return r.resolve.String() })
	row("  lookups/s, 1 goroutine", func(r result) string { return fmt.Sprintf("%.0f/s", r.resolve.rate()) })
	row(fmt.Sprintf("  lookups/s, %d goroutines", workers), func(r result) string { return fmt.Sprintf("%.0f/s", r.parallel) })
	row("image by digest", func(r result) string { return r.digest.String() })
	row("  lookups/s, 1 goroutine", func(r result) string { return fmt.Sprintf("%.0f/s", r.digest.rate()) })
	for i := range rs[0].searches {
		row(fmt.Sprintf("%s [%d hits] (%d runs)", rs[0].searches[i].name, rs[0].searches[i].hits, reps),
			func(r result) string { return r.searches[i].lat.String() })
	}
	tw.Flush()
}
