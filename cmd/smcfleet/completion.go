package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/smcfleet/smcfleet/playbooks"
)

// completionCommand prints shell completion scripts. The scripts ask
// smcfleet itself what to offer (urfave/cli's --generate-bash-completion),
// so they never go stale; for the PLAYBOOK of plan, apply and validate they
// offer the bundled playbook names and files.
func completionCommand(s *streams) *cli.Command {
	script := func(src string) cli.ActionFunc {
		return func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitWith(exitFailed, "%s takes no arguments", c.Command.FullName())
			}
			_, err := io.WriteString(s.out, strings.ReplaceAll(src, "@COMMANDS@", commandWords(c.App.Commands)))
			return err
		}
	}
	return &cli.Command{
		Name:  "completion",
		Usage: "print the shell completion script for bash or zsh",
		Description: `Prints a script that completes smcfleet's commands, flags, files and the
names of the bundled playbooks.

Examples:
   source <(smcfleet completion bash)                     # bash, in ~/.bashrc
   smcfleet completion bash > /etc/bash_completion.d/smcfleet
   source <(smcfleet completion zsh)                      # zsh, in ~/.zshrc (after compinit)
   smcfleet completion zsh > "${fpath[1]}/_smcfleet"      # zsh, from fpath`,
		Subcommands: []*cli.Command{{
			Name:  "bash",
			Usage: "print the bash completion script",
			Description: `Example:
   source <(smcfleet completion bash)     # in ~/.bashrc`,
			Action: script(bashCompletion),
		}, {
			Name:  "zsh",
			Usage: "print the zsh completion script",
			Description: `Example:
   smcfleet completion zsh > "${fpath[1]}/_smcfleet"`,
			Action: script(zshCompletion),
		}, {
			// Used by the scripts: the bundled playbook names, one a line.
			Name:   "playbooks",
			Hidden: true,
			Action: func(c *cli.Context) error {
				completePlaybooks(c)
				return nil
			},
		}},
	}
}

// commandWords is every command and subcommand name, as a shell case
// pattern: the scripts pass these words back to smcfleet and leave out
// positional arguments.
func commandWords(cmds []*cli.Command) string {
	var names []string
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			names = append(names, c.Names()...)
			walk(c.Subcommands)
		}
	}
	walk(cmds)
	slices.Sort(names)
	return strings.Join(slices.Compact(names), "|")
}

// completePlaybooks prints the bundled playbook names, one a line; it is
// also a cli.BashCompleteFunc for a command whose argument is a PLAYBOOK.
func completePlaybooks(c *cli.Context) {
	// A word starting with "-" is a flag: complete it as urfave/cli does.
	if args := os.Args; len(args) >= 2 && strings.HasPrefix(args[len(args)-2], "-") {
		cli.DefaultCompleteWithFlags(c.Command)(c)
		return
	}
	for _, n := range playbooks.BundledNames() {
		fmt.Fprintln(c.App.Writer, n)
	}
}

// bashCompletion is adapted from urfave/cli v2's autocomplete/bash_autocomplete
// (MIT licence): file names after the flags that take a file, bundled
// playbook names and files for a PLAYBOOK, and smcfleet's own suggestions
// (commands, flags) otherwise. Positional arguments are not passed back to
// smcfleet, which would move the completion flag off the end.
const bashCompletion = `# bash completion for smcfleet; adapted from urfave/cli v2's bash_autocomplete.
# Load it with:  source <(smcfleet completion bash)

# Macs have bash3 for which the bash-completion package doesn't include
# _init_completion. This is a minimal version of that function.
_smcfleet_init_completion() {
  COMPREPLY=()
  _get_comp_words_by_ref "$@" cur prev words cword
}

_smcfleet_bash_autocomplete() {
  if [[ "${COMP_WORDS[0]}" != "source" ]]; then
    local cur prev words cword opts cmd w
    local -a req
    COMPREPLY=()
    if declare -F _init_completion >/dev/null 2>&1; then
      _init_completion -n "=:" || return
    elif declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
      _smcfleet_init_completion -n "=:" || return
    else
      cur="${COMP_WORDS[COMP_CWORD]}"
      prev="${COMP_WORDS[COMP_CWORD-1]}"
      words=("${COMP_WORDS[@]}")
      cword=$COMP_CWORD
    fi
    case "$prev" in
      -i|--inventory|--var-file)
        COMPREPLY=($(compgen -f -- "${cur}"))
        return 0
        ;;
    esac
    words=("${words[@]:0:$cword}")
    # The command path: the words up to the first positional argument.
    req=("${words[0]}")
    cmd=""
    for w in "${words[@]:1}"; do
      case "$w" in
        -*) ;;
        *)
          [[ -z "$cmd" ]] && cmd="$w"
          case "$w" in
            @COMMANDS@) req+=("$w") ;;
          esac
          ;;
      esac
    done
    if [[ "$cur" != -* ]]; then
      case "$cmd" in
        plan|apply|validate)
          COMPREPLY=($(compgen -W "$("${words[0]}" completion playbooks 2>/dev/null)" -- "${cur}") $(compgen -f -- "${cur}"))
          return 0
          ;;
      esac
      opts=$("${req[@]}" --generate-bash-completion 2>/dev/null)
    else
      opts=$("${req[@]}" "${cur}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
    return 0
  fi
}

complete -o bashdefault -o default -F _smcfleet_bash_autocomplete smcfleet
`

// zshCompletion is adapted from urfave/cli v2's autocomplete/zsh_autocomplete
// (MIT licence), with the same additions as bashCompletion.
const zshCompletion = `#compdef smcfleet
# zsh completion for smcfleet; adapted from urfave/cli v2's zsh_autocomplete.
# Load it with:  source <(smcfleet completion zsh)     (after compinit)
# or install it: smcfleet completion zsh > "${fpath[1]}/_smcfleet"

_smcfleet() {
  local -a opts req names
  local cur cmd w
  cur=${words[-1]}
  case "${words[-2]}" in
    -i|--inventory|--var-file) _files; return ;;
  esac
  req=("${words[1]}")
  for w in "${(@)words[2,-2]}"; do
    [[ "$w" == -* ]] && continue
    [[ -z "$cmd" ]] && cmd=$w
    case "$w" in
      @COMMANDS@) req+=("$w") ;;
    esac
  done
  if [[ "$cur" != -* ]]; then
    case "$cmd" in
      plan|apply|validate)
        names=("${(@f)$("${words[1]}" completion playbooks 2>/dev/null)}")
        _alternative "playbooks:bundled playbook:(${names[*]})" 'files:playbook file:_files'
        return
        ;;
    esac
    opts=("${(@f)$("${req[@]}" --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$("${req[@]}" "${cur}" --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

if [[ "${funcstack[1]}" == "_smcfleet" ]]; then
  _smcfleet "$@"
else
  compdef _smcfleet smcfleet
fi
`
