package web

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/siloreg/silo/internal/registry"
)

// storageData is the storage summary page.
type storageData struct {
	S      *registry.Storage
	Sort   string // name, images, bytes or stored
	Tables []storageTable
	Bars   barChart
	Growth lineChart
}

type storageTable struct {
	Title string
	Link  string // "c" when rows link to /c/<name>
	Rows  []registry.StorageRow
}

// barChart is a horizontal bar chart of the biggest holders, laid out here
// so that the template only draws.
type barChart struct {
	Width, Height int
	Bars          []bar
}

type bar struct {
	Label, Value string
	Y, W         int
}

// lineChart is stored bytes over time.
type lineChart struct {
	Width, Height int
	Points        string // SVG polyline points
	Area          string // the same, closed along the bottom
	First, Last   string // dates at the ends of the x axis
	Max           string // the top of the y axis
	Dots          []dot
}

type dot struct {
	X, Y  int
	Title string
}

const (
	chartWidth = 640
	barHeight  = 22
	labelWidth = 230
	maxBars    = 10
)

var storageSorts = map[string]bool{"name": true, "images": true, "bytes": true, "stored": true}

func (h *Handler) storage(w http.ResponseWriter, r *http.Request, q *req) {
	s, err := h.reg.Storage(r.Context(), q.act)
	if err != nil {
		h.fail(w, r, q, err)
		return
	}
	by := r.URL.Query().Get("sort")
	if !storageSorts[by] {
		by = "stored"
	}
	d := &storageData{S: s, Sort: by, Bars: bars(s.Containers), Growth: growthChart(s.Growth)}
	for _, t := range []storageTable{
		{"Collections", "c", s.Collections}, {"Containers", "c", s.Containers},
		{"Users", "", s.Users}, {"Teams", "", s.Teams},
	} {
		sortRows(t.Rows, by)
		d.Tables = append(d.Tables, t)
	}
	h.render(w, r, q, http.StatusOK, "storage", page{Title: "Storage", Nav: "storage", Data: d})
}

// sortRows sorts in place: names ascending, numbers descending.
func sortRows(rows []registry.StorageRow, by string) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch by {
		case "name":
			return a.Name < b.Name
		case "images":
			return a.Images > b.Images
		case "bytes":
			return a.Bytes > b.Bytes
		}
		return a.Stored > b.Stored
	})
}

// bars lays out the biggest rows (as stored) as horizontal bars.
func bars(rows []registry.StorageRow) barChart {
	rows = append([]registry.StorageRow(nil), rows...)
	sortRows(rows, "stored")
	rows = rows[:min(maxBars, len(rows))]
	c := barChart{Width: chartWidth, Height: len(rows) * (barHeight + 6)}
	var top int64 = 1
	if len(rows) > 0 && rows[0].Stored > 0 {
		top = rows[0].Stored
	}
	room := chartWidth - labelWidth - 90
	for i, row := range rows {
		wd := int(float64(room) * float64(row.Stored) / float64(top))
		c.Bars = append(c.Bars, bar{Label: shorten(row.Name, 34), Value: registry.HumanSize(row.Stored), Y: i * (barHeight + 6), W: max(wd, 1)})
	}
	return c
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// growthChart draws stored bytes by day as a line.
func growthChart(pts []registry.GrowthPoint) lineChart {
	c := lineChart{Width: chartWidth, Height: 180}
	if len(pts) == 0 {
		return c
	}
	const left, right, top, bottom = 10, 10, 14, 24
	pw, ph := c.Width-left-right, c.Height-top-bottom
	first, last := pts[0].Day, pts[len(pts)-1].Day
	span := last.Sub(first).Seconds()
	maxv := pts[len(pts)-1].Stored
	if maxv <= 0 {
		maxv = 1
	}
	var b strings.Builder
	xs := make([]int, len(pts))
	for i, p := range pts {
		x := left + pw/2
		if span > 0 {
			x = left + int(float64(pw)*p.Day.Sub(first).Seconds()/span)
		}
		y := top + ph - int(float64(ph)*float64(p.Stored)/float64(maxv))
		xs[i] = x
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d,%d", x, y)
		c.Dots = append(c.Dots, dot{X: x, Y: y, Title: p.Day.Format("2006-01-02") + ": " + registry.HumanSize(p.Stored)})
	}
	c.Points = b.String()
	c.Area = fmt.Sprintf("%d,%d %s %d,%d", xs[0], top+ph, c.Points, xs[len(xs)-1], top+ph)
	c.First, c.Last = first.Format("2006-01-02"), last.Format("2006-01-02")
	c.Max = registry.HumanSize(maxv)
	return c
}
