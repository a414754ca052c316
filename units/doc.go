// Package units is the unit-file model of Ehecoatl and the only code in the
// project that writes systemd unit-file syntax (modelled on Podman Quadlet's
// pkg/systemd/parser). A Unit is a list of sections, a section an ordered
// list of Key=Value options whose values are stored already encoded, so
// serialization (Bytes) is a plain join and every escaping rule lives in the
// Add* methods of this package.
//
// The rules, checked against systemd 252 (systemd.syntax(7) "QUOTING",
// systemd.service(5) "COMMAND LINES", systemd.exec(5) Environment=,
// systemd.unit(5) "SPECIFIERS") and against what its loader really does
// (the tests load generated units with systemd-analyze verify and dump them
// with systemd --test):
//
//   - Every value is valid UTF-8 and holds no control character (U+0000 to
//     U+001F and U+007F, tab included). systemd ends a line at \n, \r and
//     NUL, so these would inject lines; the others are refused so that what
//     is written is what `systemctl show` and the journal display. Tabs are
//     rejected rather than escaped as \t: no manifest needs them, and one
//     rule for every value is easier to audit.
//   - '%' starts a specifier in every unit value, so a literal '%' is
//     written "%%". AddSpecifier (and AddExecSpecifier, AddEnvSpecifier)
//     let through only %i %I %n %N %p and %%.
//   - Add writes a plain value verbatim otherwise. It refuses leading or
//     trailing spaces (systemd strips them) and a trailing backslash
//     (systemd would join the next line). Add does no quoting: for options
//     that split their value into words (paths, directory lists), use
//     AddList, which refuses words that would need quoting.
//   - AddExec writes an argv as one command line: a word is wrapped in
//     double quotes when it is empty or holds a space, a quote or a
//     backslash, with \" and \\ inside; '$' becomes "$$" (Ehecoatl never
//     uses systemd's variable expansion); a word that is exactly ";" becomes
//     "\;" (a lone ";" separates commands). argv[0] must be a clean absolute
//     path without '$' (systemd does not expand variables in the executable
//     path, so "$$" there would stay doubled) and without quotes or
//     backslashes (systemd refuses them there: "Executable name contains
//     special characters"). Prefixes such as "-" or "@" are not supported.
//   - AddEnv writes one "KEY=value" assignment, wrapped in double quotes
//     when the value needs it. '$' has no meaning in Environment= and is
//     written as is.
//
// Decoders (UnescapeValue, SplitExec, SplitEnv) follow systemd's own order:
// specifiers are resolved before word splitting on command lines but after
// it in Environment=. They are stricter than systemd: an unknown escape, an
// unresolved specifier or a variable reference is an error, and a decoded
// value must pass the same checks as the encoder, so whatever decodes can be
// encoded again.
package units
