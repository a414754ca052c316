package top

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Width is the table's width: it fits an 80-column terminal.
const Width = 78

const (
	nameWidth = 22
	rowFormat = "%-22s %-8s %6s %7s %7s %5s %8s %7s"
)

// Lines renders v as the table's lines: the header line with the totals,
// the column heads, then each tenant followed by its apps (indented). At
// most height lines (0: all); what does not fit is counted on the last.
func Lines(v *View, height int) []string {
	t := v.Totals
	cpuTotal := cpu(t.CPUPercent)
	if t.CPUPercent != nil {
		cpuTotal += "%"
	}
	head := fmt.Sprintf("%s  %d tenants  %d/%d apps up  CPU %s  mem %s  %s req/s  %s 5xx/s",
		v.Time.Format("15:04:05"), t.Tenants, t.Running, t.Apps, cpuTotal, size(t.MemoryBytes), rps(t.RequestsPerSecond), rps(t.ErrorsPerSecond))
	lines := []string{head, fmt.Sprintf(rowFormat, "TENANT/APP", "STATE", "CPU%", "MEM", "LIMIT", "TASKS", "REQ/S", "5XX/S")}
	var rows []string
	for _, tr := range v.Tenants {
		rows = append(rows, row(tr.Tenant, &tr))
		for _, a := range tr.Apps {
			rows = append(rows, row("  "+a.App, &a))
		}
	}
	if len(rows) == 0 {
		rows = append(rows, "(no tenants in the router's metrics)")
	}
	if height > 0 && len(lines)+len(rows) > height {
		keep := max(height-len(lines)-1, 0)
		rest := len(rows) - keep
		rows = append(rows[:keep], fmt.Sprintf("... %d more (a taller terminal, or --once, shows them)", rest))
	}
	return append(lines, rows...)
}

// Table writes v as Lines with no limit.
func Table(w io.Writer, v *View) error {
	_, err := io.WriteString(w, strings.Join(Lines(v, 0), "\n")+"\n")
	return err
}

// JSON writes v as one JSON document.
func JSON(w io.Writer, v *View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func row(name string, r *Row) string {
	return fmt.Sprintf(rowFormat, clip(name, nameWidth), r.State, cpu(r.CPUPercent), size(r.MemoryBytes),
		limit(r.MemoryMaxBytes, r.MemoryBytes != nil), count(r.Tasks), rps(r.RequestsPerSecond), rps(r.ErrorsPerSecond))
}

// clip shortens s to n characters, the last one an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func cpu(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func rps(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v >= 100000:
		return strconv.FormatFloat(*v/1000, 'f', 0, 64) + "k"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func count(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 0, 64)
}

// limit is a memory limit; "none" where the usage is known and no limit
// is set.
func limit(v *float64, known bool) string {
	switch {
	case v != nil:
		return size(v)
	case known:
		return "none"
	}
	return "-"
}

// size formats in binary units as top and systemd-cgtop do: 512K, 9.5M,
// 118M, 1.2G.
func size(v *float64) string {
	if v == nil {
		return "-"
	}
	n := *v
	if n < 1024 {
		return strconv.FormatFloat(n, 'f', 0, 64) + "B"
	}
	units := "KMGTPE"
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if n < 10 {
		return strconv.FormatFloat(n, 'f', 1, 64) + units[i:i+1]
	}
	return strconv.FormatFloat(n, 'f', 0, 64) + units[i:i+1]
}
