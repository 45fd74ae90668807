package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// row is one line of the results table.
type row struct {
	measure  string
	paas     string
	baseline string
	result   string
	target   string
}

// report is everything one run measured, printed as one markdown table.
type report struct {
	date    time.Time
	header  []string
	rows    []row
	notes   []string
	elapsed time.Duration
}

func (r *report) add(x row) { r.rows = append(r.rows, x) }

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// write prints the report in markdown.
func (r *report) write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## caddy-paas benchmarks, %s\n\n", r.date.Format("2006-01-02 15:04 MST"))
	for _, h := range r.header {
		fmt.Fprintf(&b, "- %s\n", h)
	}
	fmt.Fprintf(&b, "- whole run: %s\n\n", r.elapsed.Round(time.Second))
	b.WriteString("| Measure | caddy-paas | Baseline, same run | Result | Target |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(x.measure), cell(x.paas), cell(x.baseline), cell(x.result), cell(x.target))
	}
	if len(r.notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// machine describes this machine for the report's header.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if i := strings.IndexByte(line, ':'); i >= 0 {
					model = strings.TrimSpace(line[i+1:])
				}
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	mem := ""
	if total, err := procMeminfoTotal(); err == nil {
		mem = fmt.Sprintf(", %.0f GiB memory", float64(total)/(1<<30))
	}
	return fmt.Sprintf("%d cores (%s)%s%s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version())
}

func procMeminfoTotal() (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	var kb uint64
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

// verdict says whether a target was met.
func verdict(target string, met bool) string {
	if met {
		return target + ": met"
	}
	return target + ": **missed**"
}

// fmtInt formats a number with thousands separators: 12,345.
func fmtInt(x float64) string {
	n := int64(math.Round(x))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtDur formats a duration with three significant digits in a fitting
// unit.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3g s", d.Seconds())
}

// fmtMB formats bytes as MB (10^6 bytes).
func fmtMB(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// fmtDelta formats b-base in MB with its sign.
func fmtDelta(b, base uint64) string {
	if b >= base {
		return "+" + fmtMB(b-base)
	}
	return "-" + fmtMB(base-b)
}

// caddyVersionShort is the Caddy version this bench is built with, such as
// v2.11.9.
func caddyVersionShort() string {
	simple, _ := caddy.Version()
	return simple
}

// machineLoad tells how busy the machine is, from /proc: the share of all
// cores busy over one second, and the load average. Other work on a
// shared machine makes requests/s noisy; ratios of samples taken in turn
// and CPU time per request much less so.
func machineLoad() string {
	busy := "unknown"
	if a, err := cpuTimes(); err == nil {
		time.Sleep(time.Second)
		if b, err := cpuTimes(); err == nil && b.total > a.total {
			busy = fmt.Sprintf("%.0f%%", 100*(1-float64(b.idle-a.idle)/float64(b.total-a.total)))
		}
	}
	avg := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			avg = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%s of all cores busy over 1 s, load average %s", busy, avg)
}

type cpuSample struct{ idle, total uint64 }

// cpuTimes reads the machine's idle and total CPU time from /proc/stat.
func cpuTimes() (cpuSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var s cpuSample
	for i, x := range f[1:] {
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("reading /proc/stat: %w", err)
		}
		s.total += n
		if i == 3 || i == 4 { // idle, iowait
			s.idle += n
		}
	}
	return s, nil
}
