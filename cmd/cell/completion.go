package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks cell itself for the words that may come next
// (urfave/cli's --generate-bash-completion), so it follows the commands
// and flags as they change.
const bashCompletion = `# bash completion for cell
_cell() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local words
	words=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _cell cell
`

// zshCompletion reuses the bash function through bashcompinit.
const zshCompletion = `#compdef cell
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

func docCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "completion",
			Usage:     "print a shell completion script",
			ArgsUsage: "bash|zsh|fish",
			Action: func(c *cli.Context) error {
				switch c.Args().First() {
				case "bash":
					_, err := fmt.Fprint(c.App.Writer, bashCompletion)
					return err
				case "zsh":
					_, err := fmt.Fprint(c.App.Writer, zshCompletion)
					return err
				case "fish":
					s, err := c.App.ToFishCompletion()
					if err != nil {
						return err
					}
					_, err = fmt.Fprint(c.App.Writer, s)
					return err
				}
				return usageError("completion: name a shell: bash, zsh or fish")
			},
		},
		{
			Name:   "man",
			Usage:  "print the manual page (roff)",
			Hidden: true,
			Action: func(c *cli.Context) error {
				_, err := fmt.Fprint(c.App.Writer, manPage(c.App))
				return err
			},
		},
	}
}
