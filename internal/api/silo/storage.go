package silo

import (
	"net/http"
	"strconv"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/registry"
)

// The storage summary: GET usage?storage=true adds it to the caller's
// quotas. It covers everything the caller may see, as the web page's.

// StorageRow is what one collection, container, user or team holds.
type StorageRow struct {
	Name   string `json:"name"`
	Images int    `json:"images"`
	Bytes  int64  `json:"bytes"`       // every image's size
	Stored int64  `json:"storedBytes"` // each distinct digest once: the disk's cost
}

// GrowthPoint is the bytes stored at the end of a day (UTC), of the images
// there are now, by the day each digest was first pushed.
type GrowthPoint struct {
	Day         string `json:"day"` // YYYY-MM-DD
	StoredBytes int64  `json:"storedBytes"`
}

// Storage is the storage summary. Every list is sorted biggest on disk
// first and is never null.
type Storage struct {
	Total       StorageRow    `json:"total"`
	SavedBytes  int64         `json:"savedBytes"` // what storing identical bytes once saves
	Collections []StorageRow  `json:"collections"`
	Containers  []StorageRow  `json:"containers"`
	Users       []StorageRow  `json:"users"` // owners of collections not given to a team
	Teams       []StorageRow  `json:"teams"`
	Growth      []GrowthPoint `json:"growth"`
}

// addStorage fills u.Storage when the request asks for it; it answers the
// request itself and returns false on error.
func (a *API) addStorage(w http.ResponseWriter, r *http.Request, act access.Actor, u *Usage) bool {
	s := r.URL.Query().Get("storage")
	if s == "" {
		return true
	}
	want, err := strconv.ParseBool(s)
	if err != nil {
		writeError(w, http.StatusBadRequest, "storage must be true or false, not "+strconv.Quote(s))
		return false
	}
	if !want {
		return true
	}
	st, err := a.reg.Storage(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return false
	}
	u.Storage = toStorage(st)
	return true
}

func toStorage(s *registry.Storage) *Storage {
	rows := func(in []registry.StorageRow) []StorageRow {
		out := make([]StorageRow, 0, len(in))
		for _, r := range in {
			out = append(out, StorageRow(r))
		}
		return out
	}
	out := &Storage{
		Total: StorageRow(s.Total), SavedBytes: s.Saved,
		Collections: rows(s.Collections), Containers: rows(s.Containers), Users: rows(s.Users), Teams: rows(s.Teams),
		Growth: make([]GrowthPoint, 0, len(s.Growth)),
	}
	for _, g := range s.Growth {
		out.Growth = append(out.Growth, GrowthPoint{Day: g.Day.Format("2006-01-02"), StoredBytes: g.Stored})
	}
	return out
}
