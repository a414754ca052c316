# Ehecoatl — build, test, demo. `make demo` and `make test` are the two
# commands of the README; both work on a fresh Debian 12 machine as root.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# main.version: the router's (ehecoatl_build_info); other commands have none.
LDFLAGS := -s -w -X github.com/ehecoatl/ehecoatl/cli.Version=$(VERSION) -X main.version=$(VERSION)
BINS    := bin/ehecoatl bin/ehecoatl-router bin/ehecoatl-generator bin/ehecoatl-exec
export CGO_ENABLED := 0

.PHONY: all build test test-unit test-integration deps promtool demo bench bench-apply bench-scale bench-router fuzz clean

all: build

build: $(BINS)

bin/%: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$*

FORCE:

# What the tests need from Debian: systemd-nspawn for the real-systemd
# integration tests, dbus-daemon for the fake systemd of the dbus unit tests,
# python3 for the example apps, nftables (a dependency of the package,
# whose ehecoatl-firewall.service the tests verify and install). Installs
# only what is missing.
deps:
	@missing=""; \
	command -v systemd-nspawn >/dev/null || missing="$$missing systemd-container"; \
	command -v dbus-daemon >/dev/null || missing="$$missing dbus-daemon"; \
	test -x /usr/bin/python3 || missing="$$missing python3"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	test -x /usr/sbin/nft || missing="$$missing nftables"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# promtool, from Debian's prometheus package, unpacked into .cache/tools/
# rather than installed (the package would start a Prometheus on the host):
# the tests check the dashboard's queries with `promtool check rules` and a
# scrape of the router with `promtool check metrics` (internal/promtool).
PROMTOOL := .cache/tools/promtool
promtool: $(PROMTOOL)

$(PROMTOOL):
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	get() { (cd "$$d" && apt-get download -qq -o APT::Sandbox::User=root prometheus); }; \
	get 2>/dev/null || { apt-get update -qq && get; }; \
	dpkg-deb -x "$$d"/prometheus_*.deb "$$d/x"; \
	install -D -m 0755 "$$d/x/usr/bin/promtool" $@; \
	$@ --version | head -1

# The router's tests run twice: with its epoll loops (the default) and
# with every connection on the goroutine path, which the loops hand over to.
test: deps build promtool
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...
	EHECOATL_TEST_LOOPS=0 $(GO) test -count=1 ./router/

test-unit:
	$(GO) test -count=1 -short ./...

demo: deps build
	$(GO) run ./tests/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./generator/ ./router/

bench-apply: deps build
	EHECOATL_BENCH_APPLY=1 $(GO) test -count=1 -timeout 30m -run TestBenchApply -v ./tests/

# The first apply against the number of tenants, a fresh guest for each
# (docs/DESIGN.md "Apply at scale"); BENCH_SCALE lists the counts.
BENCH_SCALE ?= 250,500,1000
bench-scale: deps build
	EHECOATL_BENCH_SCALE=$(BENCH_SCALE) $(GO) test -count=1 -timeout 60m -run TestBenchScale -v ./tests/

bench-router: deps build
	$(GO) run ./tests/benchrouter

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 5m ./manifest/

clean:
	rm -rf bin

# Packages: dist/ehecoatl_$(PKG_VERSION)_amd64.deb and
# dist/ehecoatl-$(PKG_VERSION).x86_64.rpm, built by packaging/build.sh with
# nfpm v2.48.0 (packaging/tools.mod). PKG_VERSION comes from git describe
# (packaging/version.sh: 0.1.0~gitN.HASH before the first tag); dates are the
# last commit's (SOURCE_DATE_EPOCH), so a commit always gives the same bytes.
PKG_VERSION ?= $(shell packaging/version.sh)

.PHONY: package test-packages

package:
	PKG_VERSION='$(PKG_VERSION)' GO='$(GO)' packaging/build.sh

# Builds the packages, then checks them: lintian and rpmlint (0 errors),
# rpm's view of the .rpm and its payload (relative ./ names only), the .rpm
# installed, upgraded and erased with rpm --root in a scratch directory, and
# in a booted systemd 252 (tests/harness): the .deb's install, apply the
# examples and curl them through the packaged router, man pages, completion,
# upgrade, remove and purge (tests/packages_test.go). Installs what it needs
# from Debian when missing.
test-packages: deps package
	@missing=""; \
	command -v lintian >/dev/null || missing="$$missing lintian"; \
	command -v rpmlint >/dev/null || missing="$$missing rpmlint"; \
	command -v rpm >/dev/null || missing="$$missing rpm"; \
	command -v rpm2cpio >/dev/null || missing="$$missing rpm2cpio"; \
	command -v cpio >/dev/null || missing="$$missing cpio"; \
	command -v man >/dev/null || missing="$$missing man-db"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	EHECOATL_PACKAGES=$(CURDIR)/dist $(GO) test -count=1 -timeout 30m -run '^TestPackages$$' -v ./tests/

# The VM test tier (tests/vm/README.md): a Debian 12 VM under QEMU (KVM when
# usable, else TCG) with cgroup v2, where MemoryMax, TasksMax, CPUQuota and
# the IP and bind rules are enforced. Builds the image once (cached in
# .cache/vm/ under a hash of tests/vm/image.sh), installs the .deb of
# `make package`, runs tests/vm/guest/cases/*.sh and, with VM_EXTRA=DIR,
# DIR/*.sh; prints one line per result and "N passed, M failed".
.PHONY: test-vm
test-vm: package
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v qemu-img >/dev/null || missing="$$missing qemu-utils"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
	command -v debugfs >/dev/null || missing="$$missing e2fsprogs"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	VM_EXTRA='$(VM_EXTRA)' GO='$(GO)' tests/vm/run.sh
