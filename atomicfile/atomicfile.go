// Package atomicfile replaces a file so that a reader sees the old content
// or the new, never a part, and a crash leaves one of the two: the data
// goes to a temporary file in the same directory, synced, then renamed
// over the old one. apply's record and history, the operator's stops, the
// drain record and the router's runtime records (certificates, health,
// reloads) are written with it. A leaf: it imports nothing of the project.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, with mode perm and, when gid >= 0, that
// group. The directory must exist: a runtime directory that is gone (the
// router stopping) is not made again by a late writer.
func Write(path string, data []byte, perm fs.FileMode, gid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a failure; a no-op once renamed
	err = tmp.Chmod(perm)
	if err == nil && gid >= 0 {
		err = tmp.Chown(-1, gid)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
