package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/tlsstate"
)

// routeRow is one line of `ehecoatl routes`.
type routeRow struct {
	Domain  string   `json:"domain"`
	Path    string   `json:"path"`
	Tenant  string   `json:"tenant"`
	App     string   `json:"app"`
	Sockets []string `json:"sockets"`
	// HTTPS is the domain's certificate as the router reports it; nil when
	// the domain is served over plain HTTP only, or the router keeps no
	// record (it does not run).
	HTTPS *tlsstate.Domain `json:"https,omitempty"`
}

func routesCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "routes",
		Usage:     "print the router's table: domain, path, tenant, app, HTTPS certificate, socket",
		ArgsUsage: "[DIR]",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			set, err := loadInstalled(c, dir)
			if err != nil {
				return err
			}
			apps := map[[2]string]*manifest.App{}
			for _, t := range set.Tenants {
				for _, a := range t.Apps {
					apps[[2]string{t.Name, a.Name}] = a
				}
			}
			rec, running, err := tlsstate.Read(lay(c).Path(tlsstate.Path))
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
			}
			certs := rec.ByDomain()
			rows := []routeRow{}
			for _, r := range set.Routes {
				row := routeRow{Domain: r.Domain, Path: r.Path, Tenant: r.Tenant, App: r.App}
				if d, ok := certs[r.Domain]; ok && d.Tenant == r.Tenant {
					row.HTTPS = &d
				}
				if a := apps[[2]string{r.Tenant, r.App}]; a != nil {
					row.Sockets = appUnits(a).SocketPaths
				}
				rows = append(rows, row)
			}
			if c.Bool("json") {
				return printJSON(c, rows)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tPATH\tTENANT\tAPP\tHTTPS\tSOCKET")
			now := time.Now()
			for _, r := range rows {
				https := "plain"
				switch {
				case r.HTTPS != nil:
					https = r.HTTPS.Summary(now)
				case !running:
					https = "?" // the router keeps no record: it does not run
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Domain, r.Path, r.Tenant, r.App, https, strings.Join(r.Sockets, ","))
			}
			return tw.Flush()
		},
	}
}
