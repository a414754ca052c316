package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteDir writes every file (mode 0644) and link of the output into dir,
// creating the links' directories, then the output's digest (DigestFile);
// it removes nothing else. An existing file of the same name is replaced,
// an existing link re-pointed, so writing the same output twice gives the
// same directory.
func WriteDir(o *Output, dir string) error {
	if err := WriteUnits(o, dir); err != nil {
		return err
	}
	// Last, so that a digest on disk always describes units on disk.
	if err := os.WriteFile(filepath.Join(dir, DigestFile), []byte(o.Digest()+"\n"), 0o644); err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	return nil
}

// WriteUnits is WriteDir without the digest, for units the digest does
// not cover (MetricsSocket).
func WriteUnits(o *Output, dir string) error {
	for _, f := range o.Files {
		if !plainName(f.Name) {
			return fmt.Errorf("generator: write %s: bad unit file name %q", dir, f.Name)
		}
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("generator: %w", err)
		}
		// WriteFile keeps the mode of an existing file.
		if err := os.Chmod(p, 0o644); err != nil {
			return fmt.Errorf("generator: %w", err)
		}
	}
	made := map[string]bool{}
	for _, l := range o.Links {
		if !plainName(l.Dir) || !plainName(l.Name) {
			return fmt.Errorf("generator: write %s: bad link %s/%s", dir, l.Dir, l.Name)
		}
		d := filepath.Join(dir, l.Dir)
		if !made[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("generator: %w", err)
			}
			made[d] = true
		}
		p := filepath.Join(d, l.Name)
		if cur, err := os.Readlink(p); err == nil {
			if cur == l.Target {
				continue
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("generator: %w", err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("generator: %s: %w", p, err)
		}
		if err := os.Symlink(l.Target, p); err != nil {
			return fmt.Errorf("generator: %w", err)
		}
	}
	return nil
}

// plainName is a single path element.
func plainName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsRune(n, '/')
}
