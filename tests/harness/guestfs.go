package harness

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// guestFS writes and reads files below a directory that is the root of the
// guest, resolving every path with openat2(RESOLVE_IN_ROOT): an absolute
// symlink in the guest (/etc/resolv.conf -> /run/...) then points inside the
// guest. Plain path joins would follow it on the host and write host files.
type guestFS struct {
	root int // O_PATH fd of the guest's root directory
}

func openGuestFS(dir string) (*guestFS, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &guestFS{root: fd}, nil
}

func (g *guestFS) close() { unix.Close(g.root) }

func (g *guestFS) open(p string, flags int, mode uint32) (int, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(g.root, rel, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, nil
	}
}

// mkdirAll creates dir and its parents (mode perm) and returns an O_PATH fd
// of dir.
func (g *guestFS) mkdirAll(dir string, perm os.FileMode) (int, error) {
	dir = path.Clean("/" + dir)
	fd, err := g.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) || dir == "/" {
		return fd, err
	}
	parent, err := g.mkdirAll(path.Dir(dir), perm)
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	if err := unix.Mkdirat(parent, path.Base(dir), uint32(perm.Perm())); err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return g.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// writeFile creates or truncates p, creating parents, and sets mode exactly
// (umask does not apply; setuid/setgid/sticky bits are kept).
func (g *guestFS) writeFile(p string, r io.Reader, mode os.FileMode) error {
	dfd, err := g.mkdirAll(path.Dir(path.Clean("/"+p)), 0o755)
	if err != nil {
		return err
	}
	unix.Close(dfd)
	fd, err := g.open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, uint32(unixMode(mode)))
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), p)
	_, err = io.Copy(f, r)
	if err == nil {
		err = unix.Fchmod(fd, unixMode(mode))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

func (g *guestFS) readFile(p string) ([]byte, error) {
	fd, err := g.open(p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	return io.ReadAll(f)
}

// symlink makes p a symlink to target, replacing a file or symlink there.
func (g *guestFS) symlink(target, p string) error {
	p = path.Clean("/" + p)
	dfd, err := g.mkdirAll(path.Dir(p), 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	name := path.Base(p)
	if err := unix.Unlinkat(dfd, name, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	if err := unix.Symlinkat(target, dfd, name); err != nil {
		return &os.PathError{Op: "symlink", Path: p, Err: err}
	}
	return nil
}

// copyIn copies the host file or directory tree src to guest path dst.
func (g *guestFS) copyIn(dst, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return g.copyFile(dst, src, fi)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		gp := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			fd, err := g.mkdirAll(gp, 0o755)
			if err != nil {
				return err
			}
			unix.Close(fd)
			fd, err = g.open(gp, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				return err
			}
			err = unix.Fchmod(fd, unixMode(info.Mode()))
			unix.Close(fd)
			return err
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return g.symlink(target, gp)
		case info.Mode().IsRegular():
			return g.copyFile(gp, p, info)
		default:
			return fmt.Errorf("%s: cannot copy %s into the guest", p, info.Mode().Type())
		}
	})
}

func (g *guestFS) copyFile(dst, src string, fi os.FileInfo) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return g.writeFile(dst, f, fi.Mode())
}

// unixMode converts an os.FileMode's permission and special bits to st_mode bits.
func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
