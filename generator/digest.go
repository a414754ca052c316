package generator

// DigestFile is written beside the units by WriteDir: Output.Digest. It is
// not a unit name, so systemd ignores it; `ehecoatl apply` compares it with
// the digest of the units it wants, instead of reading back thousands of
// unit files, to learn whether a daemon-reload is needed.
const DigestFile = "ehecoatl.digest"
