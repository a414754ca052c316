# fish completion for ehecoatl(1): the CLI lists the candidates when its
# words, up to and including the one being completed, are followed by
# --generate-bash-completion (cli/complete.go); an empty list falls back to
# file names. Installed in /usr/share/fish/vendor_completions.d/.

function __ehecoatl_candidates
    set -l words (commandline -opc)
    $words (commandline -ct) --generate-bash-completion 2>/dev/null
end

function __ehecoatl_has_candidates
    test -n "(__ehecoatl_candidates)"
end

complete -c ehecoatl -f -n __ehecoatl_has_candidates -a '(__ehecoatl_candidates)'
complete -c ehecoatl -F -n 'not __ehecoatl_has_candidates'
