package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ehecoatl/ehecoatl/history"
	"github.com/ehecoatl/ehecoatl/layout"
	"github.com/ehecoatl/ehecoatl/manifest"
	"github.com/ehecoatl/ehecoatl/rendered"
)

// The installed manifests live in generations so that a switch is one
// rename(2): /etc/ehecoatl/current -> .generations/<hash>, and tenants and
// kits are fixed symlinks into current. A crash leaves either the old or
// the new set visible, never a mix.
// How many previous generations are kept is the host's setting
// (history.Keep): they are what `ehecoatl rollback` re-applies.
const (
	generationsDir = history.GenerationsDir
	currentLink    = history.CurrentLink
)

// manifestFiles returns the files to install, relative path -> bytes: the
// manifests' bytes that were validated, never the files re-read (one
// edited since would be installed unvalidated, and rendered at the next
// boot), and the env files as the set's rendering holds them (what plan
// hashed, not a second rendering).
func manifestFiles(set *manifest.Set, out *rendered.Output) (map[string][]byte, error) {
	files := map[string][]byte{}
	add := func(rel string, src []byte) error {
		if src == nil {
			return fmt.Errorf("%s: the loaded set holds no content for it", rel)
		}
		files[rel] = src
		return nil
	}
	for _, t := range set.Tenants {
		if err := add(t.File, t.Source); err != nil {
			return nil, err
		}
	}
	for _, k := range set.Kits {
		if err := add(k.File, k.Source); err != nil {
			return nil, err
		}
	}
	for rel, b := range out.Env {
		files[rel] = b
	}
	return files, nil
}

// subdirs of a generation, each visible as etc/<sub> through a symlink.
var subdirs = []string{"tenants", "kits", "env"}

// Who reads what is installed. Manifests carry the tenants' env
// (passwords, keys), so they are root's and the router's, which routes
// from them: 0640 root:ehecoatl-router in 0750 directories. The env files
// are read by systemd alone: 0600 root:root in 0700 directories. rel is
// relative to a generation ("" for the generation itself).
func modeOf(rel string, dir bool) (os.FileMode, bool) {
	env := rel == "env" || strings.HasPrefix(rel, "env/")
	switch {
	case env && dir:
		return 0o700, false
	case env:
		return 0o600, false
	case dir:
		return 0o750, true
	}
	return 0o640, true
}

// routerGID is the group that may read the manifests: the router's, or
// root's where the router's user does not exist (nothing else needs them).
func routerGID() int {
	g, err := user.LookupGroup(layout.RouterGroup)
	if err != nil {
		return 0
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0
	}
	return gid
}

// setPerm gives p its mode and owner (root, and gid when routerRead),
// touching only what differs. Ownership needs root; without it (tests,
// a developer's tree) the modes alone are set.
func setPerm(p string, fi fs.FileInfo, mode os.FileMode, routerRead bool, gid int) error {
	if !routerRead {
		gid = 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (st.Uid != 0 || int(st.Gid) != gid) {
		if err := os.Lchown(p, 0, gid); err != nil {
			return err
		}
	}
	if fi.Mode().Perm() != mode {
		return os.Chmod(p, mode)
	}
	return nil
}

// tighten gives every file and directory of a generation its mode and
// owner. Generations written before the manifests were private are 0644
// under 0755, and apply keeps one of them besides the current one.
func tighten(genDir string, gid int) error {
	return filepath.WalkDir(genDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		rel, err := filepath.Rel(genDir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		mode, routerRead := modeOf(filepath.ToSlash(rel), e.IsDir())
		return setPerm(p, fi, mode, routerRead, gid)
	})
}

// tight reports whether a generation's directory has its mode and owner
// (the owner only where apply runs as root, as setPerm sets it).
func tight(fi fs.FileInfo, gid int) bool {
	if fi.Mode().Perm() != 0o750 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || os.Geteuid() != 0 || st.Uid == 0 && int(st.Gid) == gid
}

// tightenAll tightens the generations directory and every generation in
// it whose own directory is not 0750 root:ehecoatl-router yet: this
// Ehecoatl tightens a generation before it becomes visible, so only one
// written before the manifests were private (0755) needs the walk through
// its thousands of files, which cost a no-op apply of 1,000 tenants a
// quarter of its time when done for every generation kept. What an older
// install moved aside (pre-ehecoatl-*) is left as it was: it is the
// operator's, and the 0750 generations directory already keeps other
// users out of it.
func tightenAll(etc string, gid int) error {
	dir := filepath.Join(etc, generationsDir)
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if err := setPerm(dir, fi, 0o750, true, gid); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "pre-ehecoatl-") {
			continue
		}
		if fi, err := e.Info(); err == nil && tight(fi, gid) {
			continue
		}
		if err := tighten(filepath.Join(dir, e.Name()), gid); err != nil {
			return err
		}
	}
	return nil
}

// installedFiles reads tenants/*.yaml and kits/*.yaml under etc as they are
// visible now (through the symlinks, or plain directories of an older
// install).
func installedFiles(etc string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, sub := range subdirs {
		// WalkDir does not follow a symlink at its root: resolve it.
		root, err := filepath.EvalSymlinks(filepath.Join(etc, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") && !strings.HasSuffix(e.Name(), ".env") {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(filepath.Join(sub, rel))] = b
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func generationName(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// Install makes the set's manifest files and the env files of its
// rendering out the installed ones under etc, atomically, readable by root
// and the router only (the env files by root alone), keeping
// history.DefaultKeep previous generations. It reports whether anything
// changed.
func Install(etc string, set *manifest.Set, out *rendered.Output) (bool, error) {
	return installKeeping(etc, set, out, history.DefaultKeep)
}

// installKeeping is Install keeping keep previous generations.
func installKeeping(etc string, set *manifest.Set, out *rendered.Output, keep int) (bool, error) {
	gid := routerGID()
	changed, err := install(etc, set, out, gid, keep)
	if err != nil {
		return changed, err
	}
	// Also when nothing changed: the first apply after an upgrade from an
	// install whose manifests were world-readable must close that.
	return changed, tightenInstalled(etc, gid)
}

// tightenInstalled is tightenAll where generations exist.
func tightenInstalled(etc string, gid int) error {
	if _, err := os.Lstat(filepath.Join(etc, generationsDir)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return tightenAll(etc, gid)
}

func install(etc string, set *manifest.Set, out *rendered.Output, gid, keep int) (bool, error) {
	want, err := manifestFiles(set, out)
	if err != nil {
		return false, err
	}
	have, err := installedFiles(etc)
	if err != nil {
		return false, err
	}
	if sameFiles(want, have) && linksInPlace(etc) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Join(etc, generationsDir), 0o750); err != nil {
		return false, err
	}
	gen := generationName(want)
	genDir := filepath.Join(etc, generationsDir, gen)
	// A generation directory is written under a temporary name and renamed
	// when complete, so an existing one is always whole.
	if _, err := os.Stat(genDir); err != nil {
		tmp, err := os.MkdirTemp(filepath.Join(etc, generationsDir), ".tmp-")
		if err != nil {
			return false, err
		}
		// The current generation, whose unchanged files the new one
		// links; not an older install's plain directories, which are
		// moved aside as they are.
		var from string
		if linksInPlace(etc) {
			from, _ = filepath.EvalSymlinks(filepath.Join(etc, currentLink))
		}
		if err := writeGeneration(tmp, want, have, from); err != nil {
			os.RemoveAll(tmp)
			return false, err
		}
		// Before the rename: a generation is never visible with wider
		// modes than its own.
		if err := tighten(tmp, gid); err != nil {
			os.RemoveAll(tmp)
			return false, err
		}
		if err := os.Rename(tmp, genDir); err != nil {
			os.RemoveAll(tmp)
			return false, err
		}
	} else {
		// A generation made current again (a rollback) is the newest:
		// collectGenerations keeps generations by this time.
		now := time.Now()
		if err := os.Chtimes(genDir, now, now); err != nil {
			return false, err
		}
	}
	if err := replaceSymlink(filepath.Join(etc, currentLink), filepath.Join(generationsDir, gen)); err != nil {
		return false, err
	}
	for _, sub := range subdirs {
		if err := ensureLink(etc, sub); err != nil {
			return false, err
		}
	}
	if err := syncDir(etc); err != nil {
		return false, err
	}
	collectGenerations(etc, gen, keep)
	return true, nil
}

// writeGeneration writes files into the new generation dir. A file whose
// bytes the current generation (from, whose files are have) holds already
// is a hard link to that one: generations are never changed once written,
// and a one-tenant change of 1,000 tenants then writes and syncs one
// manifest and its env files instead of 3,000 files.
func writeGeneration(dir string, files, have map[string][]byte, from string) error {
	for _, sub := range subdirs {
		mode, _ := modeOf(sub, true)
		if err := os.Mkdir(filepath.Join(dir, sub), mode); err != nil {
			return err
		}
	}
	for rel, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700); err != nil {
			return err
		}
		if old, ok := have[rel]; ok && from != "" && bytes.Equal(old, b) {
			if err := os.Link(filepath.Join(from, filepath.FromSlash(rel)), filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
				continue
			}
		}
		mode, _ := modeOf(rel, false)
		f, err := os.OpenFile(filepath.Join(dir, rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	for _, sub := range append(append([]string{}, subdirs...), ".") {
		if err := syncDir(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return nil
}

// replaceSymlink points link at target with one rename(2).
func replaceSymlink(link, target string) error {
	tmp := fmt.Sprintf("%s.tmp-%d", link, time.Now().UnixNano())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ensureLink makes etc/sub a symlink to current/sub. A plain directory left
// by an older install or by the package is moved into the generations
// directory, never deleted.
func ensureLink(etc, sub string) error {
	p := filepath.Join(etc, sub)
	target := filepath.Join(currentLink, sub)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return replaceSymlink(p, target)
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		if t, _ := os.Readlink(p); t == target {
			return nil
		}
		return replaceSymlink(p, target)
	default:
		aside := filepath.Join(etc, generationsDir, fmt.Sprintf("pre-ehecoatl-%s-%d", sub, time.Now().Unix()))
		tmp := fmt.Sprintf("%s.tmp-%d", p, time.Now().UnixNano())
		if err := os.Symlink(target, tmp); err != nil {
			return err
		}
		if err := os.Rename(p, aside); err != nil {
			os.Remove(tmp)
			return err
		}
		return os.Rename(tmp, p)
	}
}

func linksInPlace(etc string) bool {
	for _, sub := range subdirs {
		if t, err := os.Readlink(filepath.Join(etc, sub)); err != nil || t != filepath.Join(currentLink, sub) {
			return false
		}
	}
	_, err := os.Stat(filepath.Join(etc, currentLink))
	return err == nil
}

// collectGenerations removes old generations, keeping the current one, the
// keep most recently current previous ones and anything moved aside from
// an older install.
func collectGenerations(etc, current string, keep int) {
	dir := filepath.Join(etc, generationsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type gen struct {
		name string
		mod  time.Time
	}
	var gens []gen
	for _, e := range ents {
		n := e.Name()
		if n == current || strings.HasPrefix(n, "pre-ehecoatl-") {
			continue
		}
		if strings.HasPrefix(n, ".tmp-") {
			// What a killed apply left half written.
			os.RemoveAll(filepath.Join(dir, n))
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		gens = append(gens, gen{n, info.ModTime()})
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].mod.After(gens[j].mod) })
	for i, g := range gens {
		if i >= keep {
			os.RemoveAll(filepath.Join(dir, g.name))
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
