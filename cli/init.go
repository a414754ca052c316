package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	ucli "github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/ehecoatl/ehecoatl/manifest"
)

func initCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "init",
		Usage:     "write a starter manifest for TENANT into DIR/tenants/TENANT.yaml",
		ArgsUsage: "TENANT",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "domain", Aliases: []string{"d"}, Required: true, Usage: "a domain the tenant's app serves (repeatable)"},
			&ucli.StringFlag{Name: "dir", Value: ".", Usage: "manifest directory to write into"},
			&ucli.IntFlag{Name: "port", Usage: "the app listens on 127.0.0.1:`PORT` itself (default: it accepts the socket from systemd)"},
			// The starter serves Ehecoatl's page from a directory that holds
			// only it: http.server's default, the current directory, would
			// list the app's whole root (the OS under /usr and /etc).
			&ucli.StringFlag{Name: "command", Value: "/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /usr/share/ehecoatl/www 8080", Usage: "the app's command line, split on spaces (edit the file for words with spaces)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("init needs exactly one TENANT")
			}
			tenant := c.Args().First()
			data, err := starter(tenant, c.StringSlice("domain"), strings.Fields(c.String("command")), c.Int("port"), c.IsSet("command"))
			if err != nil {
				return err
			}
			path := filepath.Join(c.String("dir"), "tenants", tenant+".yaml")
			if err := checkStarter(tenant, data); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("init: %s already exists; edit it or remove it first", path)
			}
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return fmt.Errorf("init: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "wrote %s\nnext: ehecoatl validate %s && ehecoatl plan %s\n", path, c.String("dir"), c.String("dir"))
			return nil
		},
	}
}

var starterTemplate = template.Must(template.New("tenant").Parse(`# Tenant manifest; the format is described in ehecoatl.yaml(5).
tenant: {{.Tenant}}
limits:                 # the tenant's slice, ehecoatl-{{.Tenant}}.slice
  cpu: 100%             # CPUQuota: one CPU
  memory: 512M          # MemoryMax (MemoryHigh is 90% of it)
  tasks: 256            # TasksMax
apps:
  web:
    command: {{.Command}}
{{- if .Port}}
    port: {{.Port}}            # the app listens on 127.0.0.1:{{.Port}} in its own network namespace
{{- else}}
    listen: activation  # the app accepts the socket systemd passes it (LISTEN_FDS)
{{- end}}
    domains: {{.Domains}}
    idle_timeout: 15m   # stopped after 15 minutes without requests; 0 = never
    # state: true       # a persistent private directory in $STATE_DIRECTORY
    # secrets: [api_key] # files in /etc/ehecoatl/secrets/{{.Tenant}}/, read from $CREDENTIALS_DIRECTORY
    # read_only: [/srv/{{.Tenant}}] # host paths the app may read; it sees nothing else of the host
    # egress: none      # default: no network but the activated socket
`))

func starter(tenant string, domains, command []string, port int, commandSet bool) ([]byte, error) {
	if port == 0 && !commandSet {
		// The default command is a plain HTTP server: give it its port.
		port = 8080
	}
	flow := func(v []string) (string, error) {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range v {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s})
		}
		b, err := yaml.Marshal(n)
		return strings.TrimSpace(string(b)), err
	}
	cmd, err := flow(command)
	if err != nil {
		return nil, err
	}
	doms, err := flow(domains)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = starterTemplate.Execute(&buf, map[string]any{"Tenant": tenant, "Command": cmd, "Domains": doms, "Port": port})
	return buf.Bytes(), err
}

// checkStarter validates the starter on its own so init never writes a
// manifest that validate would reject.
func checkStarter(tenant string, data []byte) error {
	dir, err := os.MkdirTemp("", "ehecoatl-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "tenants"), 0o755); err != nil {
		return err
	}
	name := tenant
	if strings.ContainsAny(name, "/\x00") || name == "" || name == "." || name == ".." {
		name = "invalid"
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants", name+".yaml"), data, 0o644); err != nil {
		return err
	}
	if _, rep := manifest.Load(dir); rep.HasErrors() {
		var b strings.Builder
		for _, f := range rep.Findings {
			b.WriteString("\n  " + f.String())
		}
		return usagef("init: the starter manifest for %q would be invalid:%s", tenant, b.String())
	}
	return nil
}
