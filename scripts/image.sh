#!/usr/bin/env bash
# image.sh: the container image, built with podman from the static binary of
# scripts/build.sh on an empty base (FROM scratch: no shell, no package
# manager, no OVS tools; no registry needs to be reachable). The OCI labels
# org.opencontainers.image.version and .revision come from git.
#
#   IMAGE=name:tag   the image to build (default localhost/ovs-flood-exporter:dev)
#   SKIP_BUILD=1     use the existing bin/ovs-flood-exporter
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/ovs-flood-exporter:dev}
if ! command -v podman >/dev/null; then
  echo "image.sh: podman is missing: apt-get install podman buildah runc (or ./scripts/deps.sh)" >&2
  exit 2
fi
[ "${SKIP_BUILD:-0}" = 1 ] || ./scripts/build.sh
git_or() { git "$@" 2>/dev/null || true; }
VERSION=${VERSION:-$(git_or describe --tags --always --dirty)}
REVISION=${REVISION:-$(git_or rev-parse HEAD)}
# Some hosts cannot raise podman's default ulimits or use systemd cgroups;
# a private containers.conf avoids both without touching /etc.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  CONTAINERS_CONF=$(mktemp /tmp/ovs-flood-containers.XXXXXX.conf)
  trap 'rm -f "$CONTAINERS_CONF"' EXIT
  printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n' >"$CONTAINERS_CONF"
  export CONTAINERS_CONF
fi
podman build --quiet --file Dockerfile \
  --build-arg VERSION="${VERSION:-dev}" --build-arg REVISION="${REVISION:-unknown}" \
  --tag "$IMAGE" . >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "$IMAGE $(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }')"
