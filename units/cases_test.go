package units

// Tricky inputs shared by the round-trip, fuzz-seed and systemd tests: each
// one is a way a value could break out of its word, its line or its
// meaning.

// trickyWords are argv words and values that must survive unchanged.
var trickyWords = []string{
	"", " ", "  two  spaces  ", "a b", `"`, `'`, `\`, `\\`, `a"b'c`, `""`, `''`,
	`\"`, `\n`, `\x41`, `\;`, "$", "$$", "$HOME", "${HOME}", "$1", "a$", "%", "%%",
	"%i", "%n", "100%", "%%i", ";", ";;", "a;", ";a", "-", "--flag=a b", "#x", ";x",
	"[Service]", "Key=Value", "~", "*", "?", "`x`", "(x)", "a&b|c>d<e", "!", "@x",
	"日本語", "café", "emoji 💩", "x\u00a0y", "nel\u0085", "ls\u2028", "\uFEFFbom", "\uFFFD",
	"=", "a=b", "'single quoted'", `"double quoted"`, "trailing\\ ",
}

// trickyArgvs are whole command lines.
var trickyArgvs = [][]string{
	{"/bin/echo"},
	{"/bin/echo", ""},
	{"/bin/echo", "", ""},
	{"/usr/bin/printf", "%s\\n", "a b"},
	{"/bin/sh", "-c", `echo "$HOME" 'it''s' \; ; exit 0`},
	{"/opt/my app/bin/run", "--name=Acme Corp", "--rate=100%", "--cost=$5"},
	{"/srv/shop/bin/shop", "--mode", "prod"},
	{"/bin/echo", ";"},
	{"/bin/echo", ";", ";"},
	{"/bin/echo", `\;`, `";"`},
	{"/bin/echo", "a;b", "a ; b"},
	{"/bin/echo", "%i", "%%", "%n%p"},
	{"/bin/echo", "$HOME", "${HOME}", "$$"},
	{"/opt/50%/bin/x", "--p=%"},
	{"/opt/semi;colon/#x", `back\slash`, `q"uote`},
	{"/opt/ünï/cödé", "ünïcödé"},
}

// trickyEnv are environment values (the keys are V0, V1, ...).
var trickyEnv = trickyWords
