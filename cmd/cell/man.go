package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// manPage renders the manual page (roff, section 1) from the CLI's own
// definition. cell renders it itself rather than with urfave/cli's ToMan,
// which needs a markdown renderer whose package initialisers (a dozen
// regular expressions, an entity table) would otherwise run at the start
// of every cell process: make build leaves them out (the
// urfave_cli_no_docs build tag).
func manPage(app *cli.App) string {
	var b strings.Builder
	esc := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\e`)
		s = strings.ReplaceAll(s, "-", `\-`)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s
		}
		return s
	}
	fmt.Fprintf(&b, ".TH %s 1\n.SH NAME\n%s \\- %s\n", app.Name, app.Name, esc(app.Usage))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n[\\fIGLOBAL OPTIONS\\fP] \\fICOMMAND\\fP [\\fIOPTIONS\\fP] [\\fIARGS\\fP]\n", app.Name)
	if app.Description != "" {
		fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", esc(app.Description))
	}
	flags := func(fs []cli.Flag) {
		for _, f := range fs {
			d, ok := f.(cli.DocGenerationFlag)
			if !ok {
				continue
			}
			var names []string
			for _, n := range f.Names() {
				if len(n) == 1 {
					names = append(names, `\-`+n)
				} else {
					names = append(names, `\-\-`+esc(n))
				}
			}
			// A `WORD` in the usage names the flag's value, as in -h.
			usage, value := d.GetUsage(), "VALUE"
			if i := strings.IndexByte(usage, '`'); i >= 0 {
				if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
					value = usage[i+1 : i+1+j]
					usage = usage[:i] + value + usage[i+2+j:]
				}
			}
			arg := ""
			if d.TakesValue() {
				arg = " \\fI" + esc(value) + "\\fP"
			}
			fmt.Fprintf(&b, ".TP\n\\fB%s\\fP%s\n%s\n", strings.Join(names, ", "), arg, esc(usage))
		}
	}
	if len(app.Flags) > 0 {
		b.WriteString(".SH GLOBAL OPTIONS\n")
		flags(app.Flags)
	}
	b.WriteString(".SH COMMANDS\n")
	var commands func(prefix string, cs []*cli.Command)
	commands = func(prefix string, cs []*cli.Command) {
		for _, c := range cs {
			if c.Hidden {
				continue
			}
			name := strings.TrimSpace(prefix + " " + c.Name)
			fmt.Fprintf(&b, ".SS %s %s\n%s\n", esc(name), esc(c.ArgsUsage), esc(c.Usage))
			if c.Description != "" {
				fmt.Fprintf(&b, ".PP\n%s\n", esc(c.Description))
			}
			flags(c.Flags)
			commands(name, c.Subcommands)
		}
	}
	commands("", app.Commands)
	return b.String()
}
