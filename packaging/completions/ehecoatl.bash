# bash completion for ehecoatl(1)
#
# Adapted from urfave/cli v2's autocomplete/bash_autocomplete for the
# program name ehecoatl: the CLI itself lists the candidates when it is
# called with --generate-bash-completion. Installed in
# /usr/share/bash-completion/completions/, where bash-completion loads it
# on first use; without bash-completion, source this file.

_ehecoatl_complete() {
  local cur words cword
  COMPREPLY=()
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion -n "=:" || return
  else
    # bash-completion is not installed: take the words as bash split them.
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur="${COMP_WORDS[COMP_CWORD]}"
  fi
  words=("${words[@]:0:$cword}")
  local opts
  if [[ "$cur" == "-"* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}

complete -o bashdefault -o default -F _ehecoatl_complete ehecoatl
