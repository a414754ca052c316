package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// DigestFile is written beside the units by WriteDir. It is not a unit name,
// so systemd ignores it; `ehecoatl apply` compares it with the digest of the
// units it wants, instead of reading back thousands of unit files, to learn
// whether a daemon-reload is needed.
const DigestFile = "ehecoatl.digest"

// Digest identifies the output: every file's name and bytes and every link.
// Files and links are sorted, so equal outputs have equal digests.
func (o *Output) Digest() string {
	h := sha256.New()
	for _, f := range o.Files {
		fmt.Fprintf(h, "f %s %d\n", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	for _, l := range o.Links {
		fmt.Fprintf(h, "l %s/%s %s\n", l.Dir, l.Name, l.Target)
	}
	return hex.EncodeToString(h.Sum(nil))
}
