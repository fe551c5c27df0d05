#!/usr/bin/env bash
# deps.sh: install what the demo and the tests need on Debian (bookworm), as root.
# Idempotent: installs only what is missing.
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ovs-vswitchd || need+=(openvswitch-switch)
have ip || need+=(iproute2)
have ethtool || need+=(ethtool)
have iperf3 || need+=(iperf3)
have ovn-northd || need+=(ovn-central)      # lab/ovn.sh: ovn-northd and its databases
have ovn-controller || need+=(ovn-host)     # lab/ovn.sh: one ovn-controller per chassis
have perl || need+=(perl-base)              # lab/overlay.sh, lab/ovn.sh: the traffic senders
have curl || need+=(curl)
have promtool || need+=(prometheus)
have prometheus-alertmanager || need+=(prometheus-alertmanager)
have systemd-analyze || need+=(systemd)
have python3 || need+=(python3)
if [ "${WITH_BROWSER:-0}" = 1 ]; then have chromium || need+=(chromium); fi
have openssl || need+=(openssl)
have make || need+=(make)
have git || need+=(git)
# the container test builds the image and runs it (podman with runc)
have podman || need+=(podman)
have buildah || need+=(buildah)
have runc || need+=(runc)
/usr/bin/python3 -c "import yaml" 2>/dev/null || need+=(python3-yaml)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages ${need[*]}; run as root (sudo) to install them" >&2
    exit 2
  fi
  echo "deps.sh: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts OVS from the package's service where systemd runs; the lab
# runs its own private OVS per namespace, so a system instance is not needed.
if ! have go; then
  echo "deps.sh: Go is not installed (expected at /usr/local/go/bin/go, Go >= 1.24)" >&2
  exit 2
fi
