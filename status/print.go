package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes rows as the `ehecoatl status` table.
func Print(w io.Writer, rows []App, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tAPP\tSTATE\tHEALTH\tSINCE\tMEMORY\tCPU\tTASKS\tRESTARTS\tHTTPS\tDOMAINS")
	for _, r := range rows {
		since := "-"
		if r.Since != nil {
			since = ago(now.Sub(*r.Since))
		}
		mem, cpu, tasks := "-", "-", "-"
		if r.MemoryBytes != nil {
			mem = bytesIEC(*r.MemoryBytes)
		}
		if r.CPU != nil {
			cpu = r.CPU.Round(time.Millisecond).String()
		}
		if r.Tasks != nil {
			tasks = fmt.Sprint(*r.Tasks)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Tenant, r.App, r.State, r.Health(), since, mem, cpu, tasks, r.Restarts, r.HTTPS(now), strings.Join(r.Domains, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		for _, c := range r.Certificates {
			if strings.HasPrefix(c.State, "failed") {
				fmt.Fprintf(w, "\n%s/%s: certificate of %s %s\n  see: journalctl -u ehecoatl-router\n", r.Tenant, r.App, c.Domain, c.State)
			}
		}
	}
	for _, r := range rows {
		for _, in := range r.Instances {
			if in.Health != "down" {
				continue
			}
			since := ""
			if in.Since != nil {
				since = " since " + in.Since.UTC().Format("2006-01-02 15:04:05 MST")
			}
			fmt.Fprintf(w, "\n%s: down%s: %s\n  the router sends its requests to the app's other instances; see: journalctl EHECOATL_HEALTH=down EHECOATL_TENANT=%s\n",
				in.Name(), since, in.Reason, r.Tenant)
		}
	}
	for _, r := range rows {
		target := r.Tenant + "/" + r.App
		if r.StoppedSince != nil {
			fmt.Fprintf(w, "\n%s: stopped by operator since %s (by %s)\n  'ehecoatl start %s' serves it again\n",
				target, r.StoppedSince.UTC().Format("2006-01-02 15:04:05 MST"), r.StoppedBy, r.StoppedTarget)
		}
		if r.SuspendedIn != "" {
			fmt.Fprintf(w, "\n%s: suspended (suspended: true in %s)\n  remove that line and apply to serve it again\n", target, r.SuspendedIn)
		}
	}
	for _, r := range rows {
		if r.State != Failed {
			continue
		}
		fmt.Fprintf(w, "\n%s/%s failed:", r.Tenant, r.App)
		for _, u := range r.Units {
			if u.Result != "" {
				fmt.Fprintf(w, " %s (%s)", u.Name, u.Result)
			}
		}
		fmt.Fprintln(w)
		if r.Reason != "" {
			fmt.Fprintf(w, "  reason: %s\n", r.Reason)
		}
		if r.LastLine != "" {
			fmt.Fprintf(w, "  last line: %s\n", r.LastLine)
		}
		fmt.Fprintf(w, "  see: ehecoatl logs %s/%s; ehecoatl restart %s/%s after fixing\n", r.Tenant, r.App, r.Tenant, r.App)
	}
	return nil
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
