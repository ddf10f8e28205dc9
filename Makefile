# refbot's build, test and benchmark entry points. `make test` is what CI runs
# (through .ci/run); it builds the tools the tests need first.

GO            ?= go
TOOLS         := $(CURDIR)/.tools
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION       := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build release image test bench bench-replicas bench-bodies bench-burst bench-large soak docs lint tools demo clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/refbot ./cmd/refbot

# release builds the release archives into dist/: refbot_{version}_{os}_{arch}.tar.gz
# for linux/amd64, linux/arm64 and darwin/arm64 (a static binary with version,
# commit and commit date stamped in, LICENSE, README.md) and checksums.txt, the
# same bytes from every build of one commit: scripts/release.sh. Give the
# version as `make release VERSION=1.2.3`; the default is git describe's.
release:
	GO="$(GO)" VERSION="$(VERSION)" scripts/release.sh

# image builds the container image without a Docker daemon: dist/image, an
# OCI layout for linux/amd64 and linux/arm64, and dist/refbot-image.tar, the
# linux/amd64 image for `docker load` or `podman load`; it prints their
# digests. Its refbot is the release's, byte for byte: see internal/cmd/image.
image:
	$(GO) run ./internal/cmd/image -version "$(VERSION)" -out dist

# tools installs what the tests run against but Go modules do not bring:
# the MinIO server, built from the module proxy (about five minutes the first
# time, reused afterwards).
tools:
	@scripts/install-tools.sh "$(TOOLS)" "$(MINIO_VERSION)"

# demo runs refbot's main job on this machine, every outside service a
# loopback server or fake: see internal/cmd/demo. `make demo HOLD=10m`
# keeps everything up that long afterwards, to open refbot's pages (the
# review of the demo PR among them) in a browser.
HOLD ?=
demo: build tools
	$(GO) run ./internal/cmd/demo -refbot bin/refbot $(if $(HOLD),-hold $(HOLD))

test: tools
	$(GO) test -count=1 ./...

# bench needs the aws CLI for the hand-run pipeline it compares against
# (apt-get install awscli).
bench: tools
	$(GO) run ./internal/cmd/benchintake
	$(GO) run ./internal/cmd/bench
	$(GO) run ./internal/cmd/benchsite
	$(GO) run ./internal/cmd/benchhistory
	$(GO) run ./internal/cmd/benchpages

# bench-replicas measures 1, 2 and 3 refbot serve replicas on one
# PostgreSQL (the machine's server programs; see internal/testenv):
# deliveries per second and completed UPDATEs per minute, in one run.
bench-replicas: build tools
	$(GO) run ./internal/cmd/benchreplicas -refbot bin/refbot

# bench-bodies sends 40 signed 25 MB deliveries at once to a real refbot
# serve and reports its answers and peak memory (VmHWM).
bench-bodies: build tools
	$(GO) run ./internal/cmd/benchbodies -refbot bin/refbot

# bench-burst sends 500 signed deliveries over 50 PRs in 10 s to a real
# refbot serve on SQLite: answer times, none lost, GitHub writes paced,
# time to drain the queue, peak memory (minutes: the writes are paced).
bench-burst: build tools
	$(GO) run ./internal/cmd/benchburst -refbot bin/refbot

# bench-large uploads a generated build of 50,000 files and 2 GB and has
# refbot serve UPDATE a PR with it: peak memory of both against a 512 MiB
# budget, and their times (needs about 10 GB of free disk in $$TMPDIR).
bench-large: build tools
	$(GO) run ./internal/cmd/benchlarge -refbot bin/refbot

# soak takes refbot serve through 1,000 UPDATEs and 100 merges over 100
# PRs and prints, every 50 UPDATEs, what it keeps: work folders, table
# rows, the data repo clone, memory and open files (tens of minutes).
soak: tools
	$(GO) run ./internal/cmd/soak

# docs writes docs/configuration.md from the config package's code and
# comments (internal/cmd/configdoc); a test fails when the file is stale.
docs:
	$(GO) generate ./internal/cmd/configdoc

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin dist
