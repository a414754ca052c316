package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/generator"
	"github.com/ehecoatl/ehecoatl/naming"
)

func generateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "generate",
		Usage:     "write the systemd units a manifest directory renders to into OUTDIR, for reading",
		ArgsUsage: "DIR OUTDIR",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "source-dir", Value: naming.ManifestDir, Usage: "manifest directory named in SourcePath= (where the manifests are installed)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usagef("generate needs DIR and OUTDIR")
			}
			dir, outDir := c.Args().Get(0), c.Args().Get(1)
			set, err := load(c, dir, true)
			if err != nil {
				return err
			}
			opts := genOptions()
			opts.SourceDir = c.String("source-dir")
			out, err := generator.Generate(set, opts)
			if err != nil {
				return fmt.Errorf("generate: %s: %w", dir, err)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			if err := generator.WriteDir(out, outDir); err != nil {
				return fmt.Errorf("generate: %s: %w", outDir, err)
			}
			fmt.Fprintf(c.App.Writer, "wrote %d unit files and %d links to %s\n", len(out.Files), len(out.Links), outDir)
			return nil
		},
	}
}
