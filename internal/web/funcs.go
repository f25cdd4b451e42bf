package web

import (
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/registry"
)

// funcs are the helpers templates may call. None returns unescaped HTML:
// everything an image says about itself goes through html/template's
// escaping.
var funcs = template.FuncMap{
	"size": registry.HumanSize,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"short": func(digest string) string {
		if len(digest) > 12 {
			return digest[:12]
		}
		return digest
	},
	"join":      strings.Join,
	"highlight": highlight,
	"sortedLabels": func(m map[string]string) [][2]string {
		out := make([][2]string, 0, len(m))
		for k, v := range m {
			out = append(out, [2]string{k, v})
		}
		sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
		return out
	},
	"isSession":   func(name string) bool { return strings.HasPrefix(name, registry.SessionPrefix) },
	"add":         func(a, b int) int { return a + b },
	"roleChoices": func() []string { return []string{meta.RoleUser, meta.RoleManager, meta.RoleAdmin} },
	// archChoices are the architectures SIF images name (sif.Arch's values).
	"archChoices": func() []string { return []string{"amd64", "arm64", "ppc64le", "s390x", "386", "arm", "riscv64"} },
	"pct": func(part, whole int64) int64 {
		if whole <= 0 {
			return 0
		}
		return part * 100 / whole
	},
}

// defLine is one line of a definition file, with the class that colours
// it: a header keyword ("Bootstrap: docker"), a section ("%post"), a
// comment, or plain.
type defLine struct {
	Class, Text string
}

// highlight splits a definition file into classed lines. It only picks
// classes; the text stays text, escaped by the template like any other.
func highlight(def string) []defLine {
	lines := strings.Split(strings.TrimRight(def, "\n"), "\n")
	out := make([]defLine, 0, len(lines))
	header := true
	for _, l := range lines {
		t := strings.TrimSpace(l)
		c := ""
		switch {
		case strings.HasPrefix(t, "%"):
			c, header = "d-section", false
		case strings.HasPrefix(t, "#"):
			c = "d-comment"
		case header && strings.Contains(t, ":"):
			c = "d-header"
		}
		out = append(out, defLine{Class: c, Text: l})
	}
	return out
}
