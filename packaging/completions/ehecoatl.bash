# bash completion for ehecoatl(1)
#
# The CLI itself lists the candidates when its words, up to and including
# the one being completed, are followed by --generate-bash-completion
# (cli/complete.go); an empty list falls back to file names. Installed in
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
  # The word being completed always goes along, "" for a new one
  # (cli/complete.go).
  local opts
  opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}

complete -o bashdefault -o default -F _ehecoatl_complete ehecoatl
