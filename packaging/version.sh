#!/bin/sh
# Prints the version of the packages, derived from `git describe --tags
# --always` so that deb and rpm versions sort in the order of the commits:
#
#   tag v1.2.3                          1.2.3
#   4 commits after v1.2.3              1.2.3+git4.abcdef0
#   tag v1.3.0-rc1 (a pre-release)      1.3.0~rc1      (sorts before 1.3.0)
#   2 commits after v1.3.0-rc1          1.3.0~rc1+git2.abcdef0
#   no tag yet                          0.1.0~gitN.abcdef0, N = commits in HEAD
#                                       (sorts before the first release 0.1.0)
#
# A dirty tree gets the version of its HEAD (ehecoatl version still says
# -dirty only for `make build`). Override with PKG_VERSION=... make package.
set -eu
cd "$(dirname "$0")/.."
desc=$(git describe --tags --always --match 'v[0-9]*' 2>/dev/null) || {
	echo "version.sh: not a git checkout; set PKG_VERSION" >&2
	exit 1
}
case "$desc" in
v[0-9]*)
	# vX.Y.Z[-PRE][-N-gHASH]
	echo "$desc" | sed -E \
		-e 's/^v//' \
		-e 's/-([0-9]+)-g([0-9a-f]+)$/+git\1.\2/' \
		-e 's/^([0-9]+\.[0-9]+\.[0-9]+)-([0-9A-Za-z.]+)/\1~\2/'
	;;
*)
	echo "0.1.0~git$(git rev-list --count HEAD).$(git rev-parse --short=7 HEAD)"
	;;
esac
