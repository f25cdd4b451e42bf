package registry

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/meta"
)

// StorageRow is what one collection, container, user or team holds.
type StorageRow struct {
	Name   string
	Images int
	Bytes  int64 // every image's size, as if each were stored alone
	Stored int64 // each distinct digest once: what it costs on disk
}

// GrowthPoint is the bytes stored at the end of a day.
type GrowthPoint struct {
	Day    time.Time // midnight UTC
	Stored int64
}

// Storage is a storage summary: totals, what deduplication saves, the
// biggest holders and growth over time.
type Storage struct {
	Total       StorageRow
	Saved       int64 // Total.Bytes - Total.Stored: what storing identical bytes once saves
	Collections []StorageRow
	Containers  []StorageRow
	Users       []StorageRow // owners of collections not given to a team (as quotas count)
	Teams       []StorageRow
	// Growth is the stored bytes of today's images by the day they were
	// pushed; images deleted since are not in it.
	Growth []GrowthPoint
}

// rowSet sums records into named rows, each distinct digest stored once per row.
type rowSet struct {
	rows   map[string]*StorageRow
	digest map[string]map[string]bool
}

func newRowSet() *rowSet {
	return &rowSet{rows: map[string]*StorageRow{}, digest: map[string]map[string]bool{}}
}

func (s *rowSet) add(name string, rec *meta.ImageRecord) {
	row := s.rows[name]
	if row == nil {
		row = &StorageRow{Name: name}
		s.rows[name] = row
		s.digest[name] = map[string]bool{}
	}
	row.Images++
	row.Bytes += rec.Size
	if !s.digest[name][rec.Digest] {
		s.digest[name][rec.Digest] = true
		row.Stored += rec.Size
	}
}

// tally sums records into one row: the totals every listing page shows.
func tally(name string, recs []meta.ImageRecord) StorageRow {
	s := newRowSet()
	for i := range recs {
		s.add(name, &recs[i])
	}
	if row := s.rows[name]; row != nil {
		return *row
	}
	return StorageRow{Name: name}
}

// list returns the rows, biggest on disk first, then by name.
func (s *rowSet) list() []StorageRow {
	out := make([]StorageRow, 0, len(s.rows))
	for _, r := range s.rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stored != out[j].Stored {
			return out[i].Stored > out[j].Stored
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Storage summarises the storage of everything the actor may see. Users
// and teams are the owners quotas charge (see ownerOf).
func (r *Registry) Storage(ctx context.Context, a access.Actor) (*Storage, error) {
	if !a.LoggedIn() {
		return nil, mustLogIn(a, "see the storage summary")
	}
	recs, err := r.Find(ctx, a, meta.Query{})
	if err != nil {
		return nil, err
	}
	users, teams := map[int64]string{}, map[int64]string{}
	name := func(cache map[int64]string, id int64, load func() (string, error)) (string, error) {
		if n, ok := cache[id]; ok {
			return n, nil
		}
		n, err := load()
		if errors.Is(err, meta.ErrNotFound) {
			n, err = "", nil
		}
		cache[id] = n
		return n, err
	}
	colls, conts, byUser, byTeam := newRowSet(), newRowSet(), newRowSet(), newRowSet()
	for i := range recs {
		rec := &recs[i]
		colls.add(rec.Entity+"/"+rec.Collection, rec)
		conts.add(rec.Entity+"/"+rec.Collection+"/"+rec.Container, rec)
		team := rec.TeamID
		if team == 0 {
			team = rec.EntityTeam
		}
		if team != 0 {
			n, err := name(teams, team, func() (string, error) {
				t, err := r.meta.Team(ctx, team)
				if err != nil {
					return "", err
				}
				return t.Name, nil
			})
			if err != nil {
				return nil, err
			}
			if n != "" {
				byTeam.add(n, rec)
			}
			continue
		}
		n, err := name(users, rec.CreatedBy, func() (string, error) {
			u, err := r.meta.User(ctx, rec.CreatedBy)
			if err != nil {
				return "", err
			}
			return u.Name, nil
		})
		if err != nil {
			return nil, err
		}
		if n != "" {
			byUser.add(n, rec)
		}
	}
	s := &Storage{Total: tally("total", recs), Collections: colls.list(), Containers: conts.list(), Users: byUser.list(), Teams: byTeam.list()}
	s.Saved = s.Total.Bytes - s.Total.Stored
	s.Growth = growth(recs)
	return s, nil
}

// growth sums, per day, the bytes of digests first pushed that day, and
// returns the running total.
func growth(recs []meta.ImageRecord) []GrowthPoint {
	first := map[string]meta.ImageRecord{}
	for _, rec := range recs {
		if f, ok := first[rec.Digest]; !ok || rec.Created.Before(f.Created) {
			first[rec.Digest] = rec
		}
	}
	perDay := map[time.Time]int64{}
	for _, rec := range first {
		d := rec.Created.UTC().Truncate(24 * time.Hour)
		perDay[d] += rec.Size
	}
	days := make([]time.Time, 0, len(perDay))
	for d := range perDay {
		days = append(days, d)
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	out := make([]GrowthPoint, 0, len(days)+1)
	if len(days) > 0 {
		// Start from nothing the day before, so one day is a line too.
		out = append(out, GrowthPoint{Day: days[0].Add(-24 * time.Hour)})
	}
	var sum int64
	for _, d := range days {
		sum += perDay[d]
		out = append(out, GrowthPoint{Day: d, Stored: sum})
	}
	return out
}
