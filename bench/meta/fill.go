package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// words name containers, so that a search for one matches a twentieth of
// the registry, as a popular tool's name would.
var words = []string{"bwa", "samtools", "bcftools", "gatk", "star", "salmon", "kallisto", "bowtie2",
	"fastqc", "multiqc", "trimmomatic", "cutadapt", "picard", "bedtools", "minimap2", "hisat2",
	"spades", "megahit", "prokka", "blast"}

// world says where the generated rows are, so lookups can name them.
type world struct {
	images int
	base   time.Time
	// ids of the containers, in generation order, resolved after the fill
	// (the store assigns nothing here: ids are written explicitly).
}

func entityName(e int) string { return fmt.Sprintf("lab%03d", e) }
func collName(c int) string   { return fmt.Sprintf("project%d", c%10) }
func contName(k int) string   { return fmt.Sprintf("%s-%d", words[k%len(words)], k) }

// Ids: entity e is e+1, collection c is c+1, container k is k+1, image i
// is i+1; collection c belongs to entity c/10, container k to collection
// k/10, image i to container i/10.
func (w *world) containerID(i int) int64 { return int64(i/10 + 1) }

func digestOf(i int) string {
	s := sha256.Sum256(fmt.Appendf(nil, "image %d", i))
	return hex.EncodeToString(s[:])
}

// pick spreads lookups over the whole registry.
func (w *world) pick(n int) int { return (n * 7919) % w.images }

// resolve does what a pull of entity/collection/container:tag does in the
// store: walk the names down, read the tags, read the image.
func (w *world) resolve(ctx context.Context, s meta.Store, n int) error {
	i := w.pick(n)
	k := i / 10
	c := k / 10
	e, err := s.EntityByName(ctx, entityName(c/10))
	if err != nil {
		return err
	}
	col, err := s.CollectionByName(ctx, e.ID, collName(c))
	if err != nil {
		return err
	}
	ct, err := s.ContainerByName(ctx, col.ID, contName(k))
	if err != nil {
		return err
	}
	tags, err := s.Tags(ctx, ct.ID)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("v%d", i%10)
	for _, t := range tags {
		if t.Name == want {
			_, err := s.Image(ctx, t.ImageID)
			return err
		}
	}
	return fmt.Errorf("tag %s of %s not found", want, contName(k))
}

// fill writes the registry through meta.TableStore, a batch of rows per
// transaction, naming only the columns it knows (the rest take their
// defaults), then moves the id sequences past what it wrote.
func fill(ctx context.Context, s meta.Store, images int) (*world, error) {
	w := &world{images: images, base: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	ts, err := s.Tables(ctx)
	if err != nil {
		return nil, err
	}
	tables := map[string]meta.Table{}
	for _, t := range ts {
		tables[t.Name] = t
	}
	stamp := func(i int) int64 { return meta.Stamp(w.base.Add(time.Duration(i) * time.Second)) }
	entities, collections, containers := images/1000, images/100, images/10

	var mu sync.Mutex
	put := func(table string, n int, row func(i int) map[string]any) error {
		t, ok := tables[table]
		if !ok {
			return fmt.Errorf("no table %s", table)
		}
		first := row(0)
		var cols []string
		for _, c := range t.Columns {
			if _, ok := first[c]; ok {
				cols = append(cols, c)
			}
		}
		if len(cols) != len(first) {
			return fmt.Errorf("table %s lacks some of %v", table, first)
		}
		sub := meta.Table{Name: t.Name, Columns: cols, Key: t.Key, Refs: t.Refs}
		const batch = 1000
		for lo := 0; lo < n; lo += batch {
			var rows []meta.Row
			for i := lo; i < min(lo+batch, n); i++ {
				m := row(i)
				r := make(meta.Row, len(cols))
				for j, c := range cols {
					r[j] = m[c]
				}
				rows = append(rows, r)
			}
			mu.Lock()
			err := s.WriteRows(ctx, sub, rows)
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		return nil
	}
	steps := []struct {
		table string
		n     int
		row   func(i int) map[string]any
	}{
		{"users", entities, func(i int) map[string]any {
			return map[string]any{"id": int64(i + 1), "name": entityName(i), "email": entityName(i) + "@example.org", "created": stamp(i)}
		}},
		{"entities", entities, func(i int) map[string]any {
			return map[string]any{"id": int64(i + 1), "name": entityName(i), "owner_id": int64(i + 1), "created": stamp(i)}
		}},
		{"collections", collections, func(i int) map[string]any {
			return map[string]any{"id": int64(i + 1), "entity_id": int64(i/10 + 1), "name": collName(i),
				"created_by": int64(i/10 + 1), "private": i%7 == 0, "created": stamp(i), "updated": stamp(i)}
		}},
		{"containers", containers, func(i int) map[string]any {
			return map[string]any{"id": int64(i + 1), "collection_id": int64(i/10 + 1), "name": contName(i),
				"description": "the " + words[i%len(words)] + " tool", "created": stamp(i), "updated": stamp(i)}
		}},
		{"images", images, func(i int) map[string]any {
			labels, _ := json.Marshal(map[string]string{"org.label-schema.name": contName(i / 10), "pipeline": fmt.Sprintf("pipeline-%d", i%1000)})
			return map[string]any{"id": int64(i + 1), "container_id": int64(i/10 + 1), "digest": digestOf(i),
				"size": int64(200<<20 + i), "arch": "amd64", "uploaded": true, "labels": string(labels),
				"description": fmt.Sprintf("%s build %d", words[(i/10)%len(words)], i%10), "pushed_by": int64(i/1000 + 1),
				"created": stamp(i), "updated": stamp(i)}
		}},
		{"tags", images, func(i int) map[string]any {
			return map[string]any{"container_id": int64(i/10 + 1), "arch": "amd64", "name": fmt.Sprintf("v%d", i%10),
				"image_id": int64(i + 1), "updated": stamp(i)}
		}},
	}
	order := make([]string, len(ts))
	for i, t := range ts {
		order[i] = t.Name
	}
	slices.SortStableFunc(steps, func(a, b struct {
		table string
		n     int
		row   func(i int) map[string]any
	}) int {
		return slices.Index(order, a.table) - slices.Index(order, b.table)
	})
	for _, st := range steps {
		if err := put(st.table, st.n, st.row); err != nil {
			return nil, fmt.Errorf("%s: %w", st.table, err)
		}
	}
	return w, s.ResetSequences(ctx)
}
