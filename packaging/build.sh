#!/bin/sh
# Builds the packages (make package):
#
#   $DIST/ehecoatl_$VERSION_amd64.deb
#   $DIST/ehecoatl-$VERSION.x86_64.rpm
#
# from packaging/nfpm.yaml with nfpm v2.48.0 (pinned in packaging/tools.mod;
# from v2.48.0 on, nfpm names the rpm's payload members ./usr/..., as rpmbuild
# does: see packaging/README.md).
# Reproducible: every date inside is SOURCE_DATE_EPOCH (default: the last
# commit's date), binaries are built with -trimpath and no VCS stamp, and
# gendocs uses no clock. Environment:
#
#   PKG_VERSION     default: packaging/version.sh (from git describe)
#   DIST            output directory, default dist (build files in $DIST/build)
#   PKG_MAINTAINER  Name <address> of the packages and of the changelog
#   SOURCE_DATE_EPOCH, GO
set -eu
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
PKG_VERSION=${PKG_VERSION:-$(packaging/version.sh)}
PKG_MAINTAINER=${PKG_MAINTAINER:-Ehecoatl maintainers <ehecoatl@users.noreply.github.com>}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
PKG_BUILD=$DIST/build
export PKG_VERSION PKG_MAINTAINER PKG_BUILD SOURCE_DATE_EPOCH
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false"

case "$PKG_VERSION" in
[0-9]*) ;;
*) echo "build.sh: package version \"$PKG_VERSION\" must start with a digit" >&2; exit 1 ;;
esac

rm -rf "$PKG_BUILD"
mkdir -p "$PKG_BUILD"
for b in ehecoatl ehecoatl-router ehecoatl-generator ehecoatl-exec; do
	$GO build -trimpath -ldflags "-s -w -X github.com/ehecoatl/ehecoatl/cli.Version=$PKG_VERSION -X main.version=$PKG_VERSION" \
		-o "$PKG_BUILD/$b" "./cmd/$b"
done
$GO run ./packaging/gendocs -out "$PKG_BUILD/docs" -version "$PKG_VERSION" \
	-epoch "$SOURCE_DATE_EPOCH" -router-bin "$PKG_BUILD/ehecoatl-router" -maintainer "$PKG_MAINTAINER"

# nfpm's changelog: setting applies to every packager, and its deb form is a
# changelog.Debian.gz, which a native package must not have: the deb ships
# gendocs' changelog.gz instead, and only the rpm's configuration names the
# chglog file.
cp packaging/nfpm.yaml "$PKG_BUILD/nfpm-rpm.yaml"
printf 'changelog: %s\n' "$PKG_BUILD/docs/changelog.yaml" >>"$PKG_BUILD/nfpm-rpm.yaml"

deb=$DIST/ehecoatl_${PKG_VERSION}_amd64.deb
rpm=$DIST/ehecoatl-${PKG_VERSION}.x86_64.rpm
rm -f "$DIST"/ehecoatl_*_amd64.deb "$DIST"/ehecoatl-*.x86_64.rpm
nfpm() { $GO tool -modfile=packaging/tools.mod nfpm "$@"; }
nfpm package --config packaging/nfpm.yaml --packager deb --target "$deb"
nfpm package --config "$PKG_BUILD/nfpm-rpm.yaml" --packager rpm --target "$rpm"
