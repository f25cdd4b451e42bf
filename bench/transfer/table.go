package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// mbps is the rate in MB/s, MB being 10^6 bytes.
func mbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e6
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// sizeLabel spells n the way -sizes takes it, in the largest binary unit
// that divides it.
func sizeLabel(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// row is one line of the main table: a Silo operation and the baseline it
// is held against, each as a function of one repetition.
type row struct {
	op, how  string
	silo     func(rep) time.Duration
	baseline string
	base     func(rep) time.Duration
	server   func(rep) usage
}

var rows = []row{
	{"push", "UploadImage, whole call", func(r rep) time.Duration { return r.push.total },
		"cp+fsync", func(r rep) time.Duration { return r.copy.cpSync }, func(r rep) usage { return r.pushU }},
	{"push", "upload: 1st PUT to complete", func(r rep) time.Duration { return r.push.upload },
		"cp+fsync", func(r rep) time.Duration { return r.copy.cpSync }, func(r rep) usage { return r.pushU }},
	{"push", "server: inside requests", func(r rep) time.Duration { return r.push.busy },
		"cp+fsync", func(r rep) time.Duration { return r.copy.cpSync }, func(r rep) usage { return r.pushU }},
	{"pull", fmt.Sprintf("c=%d part=%dMiB", cliConcurrency, cliPartSize>>20), func(r rep) time.Duration { return r.pull3 },
		"static GET", func(r rep) time.Duration { return r.static }, func(r rep) usage { return r.pull3U }},
	{"pull", "c=1 part=whole image", func(r rep) time.Duration { return r.pull1 },
		"static GET", func(r rep) time.Duration { return r.static }, func(r rep) usage { return r.pull1U }},
}

// printTables writes the comparison table and the raw baselines. Rates and
// ratios are medians over the repetitions (the ratio is the median of each
// repetition's own ratio, so a slow moment of the disk hits both sides);
// peak RSS is the largest seen.
func printTables(w io.Writer, o options, sizes []int64, results [][]rep) {
	fmt.Fprintf(w, "\n# go run ./bench/transfer %s   (MB = 10^6 bytes; medians of %d; RSS = max VmHWM of the phase's server)\n",
		strings.Join(os.Args[1:], " "), o.reps)
	fmt.Fprintln(w, "# ratio = silo / baseline; push is held against cp+fsync (the server fsyncs), pull against a static-file GET; pulls are not fsynced on either side")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "size\top\thow\tsilo MB/s\tbaseline MB/s\tratio\tbaseline\tserver peak RSS\tserver CPU s")
	for i, n := range sizes {
		for _, rw := range rows {
			var s, b, ratio, cpu []float64
			var peak int64
			for _, r := range results[i] {
				sv, bv := mbps(n, rw.silo(r)), mbps(n, rw.base(r))
				s, b, ratio = append(s, sv), append(b, bv), append(ratio, sv/bv)
				u := rw.server(r)
				peak = max(peak, u.peakRSS)
				cpu = append(cpu, u.cpu.Seconds())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.1f\n",
				sizeLabel(n), rw.op, rw.how, median(s), median(b), median(ratio), rw.baseline, mib(peak), median(cpu))
		}
	}
	tw.Flush()

	fmt.Fprintln(w, "\n# baselines and the client's side of the push (medians, MB/s; client hash = UploadImage's md5+sha256 pass before any request)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "size\tcp\tcp+fsync\tstatic GET\tstatic GET c=%d part=%dMiB\tclient hash\tpush parts\tclient CPU s (push)\n", cliConcurrency, cliPartSize>>20)
	for i, n := range sizes {
		col := func(f func(rep) float64) float64 {
			var v []float64
			for _, r := range results[i] {
				v = append(v, f(r))
			}
			return median(v)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%.1f\n", sizeLabel(n),
			col(func(r rep) float64 { return mbps(n, r.copy.cp) }),
			col(func(r rep) float64 { return mbps(n, r.copy.cpSync) }),
			col(func(r rep) float64 { return mbps(n, r.static) }),
			col(func(r rep) float64 { return mbps(n, r.ranged) }),
			col(func(r rep) float64 { return mbps(n, r.push.hash) }),
			results[i][0].push.parts,
			col(func(r rep) float64 { return r.push.cpu.Seconds() }))
	}
	tw.Flush()
	if unquiet > 0 {
		fmt.Fprintf(w, "\n# WARNING: %d measurement(s) started while other work kept the CPUs over %.0f%% busy (see -quiet); their numbers are suspect\n", unquiet, quietBusy*100)
	}
}
