#!/usr/bin/env bash
# build.sh: the release binary, bin/ovs-flood-exporter: static (no cgo, so it
# runs in a FROM scratch image and on any Linux of the same architecture),
# stripped, with the version, revision and branch from git stamped into
# prometheus/common/version (--version, ovs_flood_exporter_build_info).
#
#   OUT=path         where to write the binary (default bin/ovs-flood-exporter)
#   VERSION=v1.2.3   override the version (default: git describe)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
OUT=${OUT:-bin/ovs-flood-exporter}
git_or() { git "$@" 2>/dev/null || true; }
VERSION=${VERSION:-$(git_or describe --tags --always --dirty)}
REVISION=${REVISION:-$(git_or rev-parse HEAD)}
BRANCH=${BRANCH:-$(git_or rev-parse --abbrev-ref HEAD)}
pkg=github.com/prometheus/common/version
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
  -X $pkg.Version=${VERSION:-dev} \
  -X $pkg.Revision=${REVISION:-unknown} \
  -X $pkg.Branch=${BRANCH:-unknown} \
  -X $pkg.BuildUser=$(id -un)@$(hostname) \
  -X $pkg.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
  -o "$OUT" ./cmd/ovs-flood-exporter
echo "$OUT ${VERSION:-dev} (${REVISION:-unknown})"
