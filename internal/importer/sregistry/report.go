package sregistry

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Outcome of one item.
const (
	Moved   = "moved"
	Present = "already there"
	Planned = "would move"
	Skipped = "skipped"
	Noted   = "note"
)

// Item is one line of the report.
type Item struct {
	Kind   string // user, token, team, collection, image, freeze, share, star, labels, passwords
	Name   string
	Result string
	Detail string // why, for skipped items
}

// Report says what an import did with everything it read.
type Report struct {
	DryRun bool
	Items  []Item
}

func (r *Report) add(kind, name, result, detail string) {
	r.Items = append(r.Items, Item{Kind: kind, Name: name, Result: result, Detail: detail})
}

func (r *Report) done(kind, name string, created bool, detail string) {
	res := Present
	if created {
		res = Moved
	}
	r.add(kind, name, res, detail)
}

func (r *Report) plan(kind, name, detail string) { r.add(kind, name, Planned, detail) }
func (r *Report) skip(kind, name, why string)    { r.add(kind, name, Skipped, why) }
func (r *Report) note(kind, name, what string)   { r.add(kind, name, Noted, what) }

// Count returns how many items of kind ("" for all) had result.
func (r *Report) Count(kind, result string) int {
	n := 0
	for _, it := range r.Items {
		if (kind == "" || it.Kind == kind) && it.Result == result {
			n++
		}
	}
	return n
}

// Print writes the report as a table and a summary line.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, it := range r.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Kind, it.Name, it.Result, it.Detail)
	}
	tw.Flush()
	if r.DryRun {
		fmt.Fprintf(w, "\ndry run: %d would move, %d would be skipped; nothing was written (files were not hashed: the import checks each against its recorded version)\n", r.Count("", Planned), r.Count("", Skipped))
		return
	}
	fmt.Fprintf(w, "\n%d moved, %d already there, %d skipped\n", r.Count("", Moved), r.Count("", Present), r.Count("", Skipped))
}
