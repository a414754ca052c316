package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// SecretFiles says where CheckSecretFiles finds the secrets and how hard it
// insists on seeing them.
type SecretFiles struct {
	// Dir holds one directory per tenant (/etc/ehecoatl/secrets).
	Dir string
	// Strict makes a secret file that cannot be inspected (permission
	// denied) an error. apply is strict: it runs as root and must never
	// hand systemd a file it has not judged. validate is not: an operator
	// without root still gets the manifests checked, and a warning.
	Strict bool
	// Owner is the uid that must own the secrets and their directories;
	// 0, root, on a real host.
	Owner int
	// MustExist makes a missing secret file an error. It is set where the
	// directory is about to run, or could be (apply, and validate and plan
	// run as root): systemd would fail the app at every start ("Failed at
	// step CREDENTIALS") until its start limit. Elsewhere (validate in CI)
	// the secrets live only on the host, and absence says nothing.
	MustExist bool
	// Observe, when set, notes what the checks read (observe.go).
	Observe *Observer
}

// errAbsent: the secret (or its directory) does not exist.
var errAbsent = errors.New("absent")

// CheckSecretFiles adds to rep a finding at each secret of set whose file
// systemd must not read. LoadCredential= reads as root, so a link (symbolic
// or hard) in /etc/ehecoatl/secrets/alpha would hand alpha's app beta's
// token or /etc/shadow, and a directory others can write lets them plant
// such a link. A secret must be a regular file of Owner's, with one name,
// directly in a directory of the tenant's own that is Owner's and writable
// by nobody else, below a Dir of the same kind; and, being a secret, open
// to nobody but Owner.
func CheckSecretFiles(set *Set, rep *Report, o SecretFiles) {
	var unseen error
	for _, t := range set.Tenants {
		dirChecked := false
		var dirProb *problem
		var dirErr error
		for _, a := range t.Apps {
			for i, name := range a.Secrets {
				if !dirChecked {
					dirProb, dirErr = checkSecretDir(o, t.Name)
					dirChecked = true
				}
				p, err := dirProb, dirErr
				if p == nil && err == nil {
					p, err = checkSecretFile(o, t.Name, name)
				}
				switch {
				case errors.Is(err, errAbsent) && o.MustExist:
					p = missing(o, t.Name, name)
				case errors.Is(err, errAbsent):
					continue
				case err != nil && o.Strict:
					p = bad("make the file readable by root, or fix the file system", "secret %q of tenant %q cannot be checked: %v", name, t.Name, err)
				case err != nil:
					unseen = err
					continue
				}
				if p == nil {
					continue
				}
				at := pos{file: a.File}
				if i < len(a.secretsAt) {
					at = a.secretsAt[i]
				}
				rep.Findings = append(rep.Findings, Finding{Severity: Error, File: at.file, Line: at.line, Col: at.col, Path: at.path,
					Message: fmt.Sprintf("secret %q of tenant %q: %s", name, t.Name, p.msg), Hint: p.hint})
			}
		}
	}
	if unseen != nil {
		rep.Findings = append(rep.Findings, Finding{Severity: Warning,
			Message: fmt.Sprintf("secret files not checked: %v", unseen),
			Hint:    "run as root to check that each is a regular file of root's; apply always checks them"})
	}
	rep.sort()
}

// missing is the finding at a secret whose file (or directory) does not
// exist, with the commands that create it as the operator guide does
// (docs/OPERATIONS.md "Secrets").
func missing(o SecretFiles, tenant, name string) *problem {
	dir := filepath.Join(o.Dir, tenant)
	p := filepath.Join(dir, name)
	return bad(fmt.Sprintf("create it as root: install -d -m 0700 %s && install -m 0600 /dev/stdin %s", dir, p),
		"%s does not exist; systemd would fail the app at every start (\"Failed at step CREDENTIALS\")", p)
}

// checkSecretDir judges Dir and Dir/tenant. Dir may be a symbolic link
// (an administrator's choice, made as root); the tenant's directory may
// not, or alpha's could be beta's.
func checkSecretDir(o SecretFiles, tenant string) (*problem, error) {
	fi, err := o.Observe.hostStat(o.Dir)
	if err != nil {
		return nil, lstatErr(err)
	}
	if p := ownDir(o, o.Dir, fi); p != nil {
		return p, nil
	}
	dir := filepath.Join(o.Dir, tenant)
	fi, err = o.Observe.lstat(dir)
	if err != nil {
		return nil, lstatErr(err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := o.Observe.readlink(dir)
		return bad(fmt.Sprintf("make it a directory of the tenant's own: rm %s && install -d -m 0700 -o root %s", dir, dir),
			"the directory %s is a symbolic link (to %q); systemd would read another directory's files as root", dir, target), nil
	}
	return ownDir(o, dir, fi), nil
}

func ownDir(o SecretFiles, dir string, fi fs.FileInfo) *problem {
	switch uid, _ := owner(fi); {
	case !fi.IsDir():
		return bad("install -d -m 0700 -o root "+dir, "%s is not a directory", dir)
	case uid != o.Owner:
		return bad(fmt.Sprintf("chown root %s && chmod 0700 %s", dir, dir), "the directory %s is owned by uid %d, not root; its owner can put links to any file there", dir, uid)
	case fi.Mode().Perm()&0o022 != 0:
		return bad(fmt.Sprintf("chmod 0700 %s", dir), "the directory %s is writable by group or others (mode %04o); they can put links to any file there", dir, fi.Mode().Perm())
	}
	return nil
}

func checkSecretFile(o SecretFiles, tenant, name string) (*problem, error) {
	p := filepath.Join(o.Dir, tenant, name)
	fi, err := o.Observe.lstat(p)
	if err != nil {
		return nil, lstatErr(err)
	}
	const install = "install -m 0600 -o root SRC "
	uid, links := owner(fi)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := o.Observe.readlink(p)
		return bad("replace the link with a copy of the file: "+install+p,
			"%s is a symbolic link (to %q); systemd reads secrets as root and would follow it", p, target), nil
	case !fi.Mode().IsRegular():
		return bad("put the secret in a regular file: "+install+p, "%s is not a regular file (%s)", p, fileKind(fi.Mode())), nil
	case uid != o.Owner:
		return bad(fmt.Sprintf("chown root %s && chmod 0600 %s", p, p), "%s is owned by uid %d, not root", p, uid), nil
	case links > 1:
		return bad("give the secret a file of its own: "+install+p,
			"%s is a hard link (%d names): the same file is reachable elsewhere, maybe in another tenant's secrets", p, links), nil
	case fi.Mode().Perm()&0o077 != 0:
		// Root-only: a directory that others may enter (0755) would
		// otherwise show the secret to every local user.
		return bad("chmod 0600 "+p, "%s is readable or writable by group or others (mode %04o); a secret is root's only", p, fi.Mode().Perm()), nil
	}
	return nil, nil
}

func lstatErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errAbsent
	}
	return err
}

func owner(fi fs.FileInfo) (uid int, links uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), uint64(st.Nlink)
	}
	return -1, 0
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}
