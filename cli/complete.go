package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/ehecoatl/ehecoatl/apply"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/top"
)

// completeFlag ends the words the shell completions (packaging/completions)
// pass back to ehecoatl. ehecoatl answers it itself instead of urfave/cli:
// urfave/cli reads the word being completed from os.Args and loses a lone
// "--" to its flag parsing, so `ehecoatl apply --<TAB>` ran apply with the
// flag as DIR.
const completeFlag = "--generate-bash-completion"

// complete prints the candidates for the last of words, the word being
// completed (the shells always pass it, "" for a new word), one per line:
// commands; the flags when it begins with "-"; installed tenants and
// TENANT/APP for a target argument; kept generations for rollback's GEN. Nothing (so the shell completes file
// names) for DIR and flag values. The shells filter by the word's prefix.
func complete(app *ucli.App, words []string, w io.Writer) {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	root := "/"
	i := 0
	for ; i < len(before) && strings.HasPrefix(before[i], "-"); i++ {
		if v, ok := strings.CutPrefix(before[i], "--root="); ok {
			root = v
		} else if (before[i] == "--root" || before[i] == "-root") && i+1 < len(before) {
			i++
			root = before[i]
		}
	}
	if i == len(before) {
		if strings.HasPrefix(cur, "-") {
			printFlags(w, app.Flags)
		} else if len(before) == 0 || !takesValue(app.Flags, before[len(before)-1]) {
			printCommands(w, app)
		}
		return
	}
	if before[i] == "help" {
		if i == len(before)-1 {
			printCommands(w, app)
		}
		return
	}
	cmd := app.Command(before[i])
	if cmd == nil {
		return
	}
	if strings.HasPrefix(cur, "-") {
		printFlags(w, cmd.Flags)
		return
	}
	rest := before[i+1:]
	positional := 0
	for j := 0; j < len(rest); j++ {
		switch {
		case rest[j] == "--":
		case strings.HasPrefix(rest[j], "-"):
			if takesValue(cmd.Flags, rest[j]) {
				if j == len(rest)-1 { // cur is the flag's value
					if vs := flagValues[cmd.Name+" "+strings.TrimLeft(rest[j], "-")]; vs != nil {
						fmt.Fprintln(w, strings.Join(vs, "\n"))
					}
					return
				}
				j++
			}
		default:
			positional++
		}
	}
	if positional == 0 && targetCommands[cmd.Name] {
		printTargets(w, root, strings.Contains(cmd.ArgsUsage, "/APP"))
	}
	if positional == 0 && cmd.Name == "rollback" {
		printGenerations(w, root)
	}
}

// printGenerations prints the ids of the kept generations rollback can
// re-apply (not the current one); the generations directory is root's
// and the router's, so other users get none.
func printGenerations(w io.Writer, root string) {
	gens, _ := apply.History(layout.Layout{Root: root})
	for _, g := range gens {
		if !g.Current {
			fmt.Fprintln(w, g.Generation)
		}
	}
}

// flagValues are the values of flags that take one of a few words, by
// command and flag name.
var flagValues = map[string][]string{"top sort": top.Sorts}

// targetCommands take an installed TENANT or TENANT/APP (init names a new
// tenant, purge a removed one).
var targetCommands = map[string]bool{"start": true, "stop": true, "restart": true, "status": true, "logs": true}

// printCommands prints the commands, and help (which urfave/cli adds only
// when it runs).
func printCommands(w io.Writer, app *ucli.App) {
	for _, c := range app.Commands {
		if !c.Hidden {
			fmt.Fprintln(w, c.Name)
		}
	}
	fmt.Fprintln(w, "help")
}

// printFlags prints the long names of flags, and --help.
func printFlags(w io.Writer, flags []ucli.Flag) {
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) > 1 {
				fmt.Fprintln(w, "--"+n)
			}
		}
	}
	fmt.Fprintln(w, "--help")
}

// printTargets prints the installed tenants and, with apps, TENANT/APP.
// Manifests the user cannot read (they are root:ehecoatl-router 0640)
// complete to nothing.
func printTargets(w io.Writer, root string, apps bool) {
	set, _ := manifest.Load(layout.Layout{Root: root}.Etc())
	if set == nil {
		return
	}
	for _, t := range set.Tenants {
		fmt.Fprintln(w, t.Name)
		if apps {
			for _, a := range t.Apps {
				fmt.Fprintln(w, t.Name+"/"+a.Name)
			}
		}
	}
}
