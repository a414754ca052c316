// Package install says where the package puts Ehecoatl's files, so that
// the integration tests, `make demo` and the benchmarks install it into a
// booted systemd the same way (packaging/nfpm.yaml is the source of truth
// for the real package; tests/packages_test.go checks that one).
package install

import (
	"net"
	"path/filepath"
)

// Files maps guest paths to the repository files and the built binaries
// (in bin) that the package installs there.
func Files(repo, bin string) map[string]string {
	return map[string]string{
		"/usr/bin/ehecoatl":                                     filepath.Join(bin, "ehecoatl"),
		"/usr/bin/ehecoatl-router":                              filepath.Join(bin, "ehecoatl-router"),
		"/usr/lib/systemd/system-generators/ehecoatl-generator": filepath.Join(bin, "ehecoatl-generator"),
		"/usr/lib/ehecoatl/ehecoatl-exec":                       filepath.Join(bin, "ehecoatl-exec"),
		"/usr/lib/sysusers.d/ehecoatl.conf":                     filepath.Join(repo, "packaging/sysusers.d/ehecoatl.conf"),
		"/usr/lib/tmpfiles.d/ehecoatl.conf":                     filepath.Join(repo, "packaging/tmpfiles.d/ehecoatl.conf"),
		"/usr/lib/systemd/system/ehecoatl-router.socket":        filepath.Join(repo, "packaging/systemd/ehecoatl-router.socket"),
		"/usr/lib/systemd/system/ehecoatl-router.service":       filepath.Join(repo, "packaging/systemd/ehecoatl-router.service"),
		"/usr/lib/systemd/system/ehecoatl-firewall.service":     filepath.Join(repo, "packaging/systemd/ehecoatl-firewall.service"),
		"/usr/lib/ehecoatl/ehecoatl.nft":                        filepath.Join(repo, "packaging/nftables/ehecoatl.nft"),
		"/usr/share/polkit-1/rules.d/50-ehecoatl-router.rules":  filepath.Join(repo, "packaging/polkit/50-ehecoatl-router.rules"),
		"/usr/share/ehecoatl/www":                               filepath.Join(repo, "examples/www"),
		"/usr/share/ehecoatl/grafana":                           filepath.Join(repo, "examples/grafana"),
		"/usr/share/doc/ehecoatl/examples":                      filepath.Join(repo, "examples"),
		"/usr/share/bash-completion/completions/ehecoatl":       filepath.Join(repo, "packaging/completions/ehecoatl.bash"),
	}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now (a
// guest shares the host's network namespace, so its router can take it).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
