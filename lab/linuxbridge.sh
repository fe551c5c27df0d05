#!/usr/bin/env bash
# linuxbridge.sh: a Linux-bridge "hypervisor" in its own network namespace,
# wired like a libvirt or Neutron-linuxbridge host (no Open vSwitch at all).
#
#   linuxbridge.sh up      [NAME]   build br0 with three VMs and an uplink whose learning is off
#   linuxbridge.sh learn   [NAME] on|off   turn learning on the uplink on (the fix) or off (the fault)
#   linuxbridge.sh flood   [NAME] [SECONDS] [RATE]  UDP iperf3 vm1 -> ext (flooded while learning is off);
#                                   prints "sent_packets N sent_bytes N" (L2 frames, from iperf3's JSON)
#   linuxbridge.sh east    [NAME] [SECONDS] [RATE]  UDP iperf3 vm2 -> vm3 (learned, never flooded)
#   linuxbridge.sh noise   [NAME] [SECONDS]  broadcast UDP from vm2, multicast UDP from vm3 (flooded by design)
#   linuxbridge.sh port    [NAME] add|del N   add or delete VM port vnetN (a VM starting or stopping)
#   linuxbridge.sh down    [NAME]   delete the namespaces
#
# Topology (all inside namespaces; nothing touches the host's network):
#   netns NAME      : bridge br0 (no VLAN filtering, ageing 300 s)
#     port vnet1..3 : veth -> netns NAME-vm1..3, eth0 02:00:00:00:01:0N 10.0.0.N/24
#     port uplink   : veth -> netns NAME-ext,   eth0 02:00:00:00:01:64 10.0.0.100/24,
#                     "bridge link set dev uplink learning off"
# vm1 and ext know each other's MAC statically, so nobody ARPs for them and
# br0 never learns the external host's MAC through the uplink: every
# vm1 -> ext frame is unknown unicast and br0 copies it to vnet2 and vnet3.
# The VMs learn each other by ARP at "up", so east-west traffic is learned.
set -euo pipefail

cmd=${1:-}
NAME=${2:-lb1}
BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
DIR=$BASE/$NAME
EXT_MAC=02:00:00:00:01:64
vm_mac() { printf '02:00:00:00:01:%02x' "$1"; }
in_hv() { ip netns exec "$NAME" "$@"; }
# udp NS DST COUNT INTERVAL: COUNT small UDP datagrams from namespace NS to
# DST port 9 (discard), broadcast and multicast allowed. (No ping needed.)
udp() {
  ip netns exec "$1" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[4]))
for _ in range(int(sys.argv[2])):
    s.sendto(b"x" * 64, (sys.argv[1], 9))
    time.sleep(float(sys.argv[3]))
' "$2" "$3" "$4" "$(ip -n "$1" -4 -o addr show dev eth0 | awk '{sub("/.*", "", $4); print $4}')"
}

need() {
  local missing=()
  for b in ip bridge iperf3 python3; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "linuxbridge.sh: missing ${missing[*]}: apt-get install iproute2 iperf3 python3" >&2
    exit 2
  fi
}

# add_vm N: namespace NAME-vmN on bridge port vnetN.
add_vm() {
  local n=$1 ns=$NAME-vm$1
  ip netns add "$ns"
  ip link add "vnet$n" netns "$NAME" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set eth0 address "$(vm_mac "$n")" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.0.0.$n/24" dev eth0
  in_hv ip link set "vnet$n" master br0 up
}

up() {
  need
  mkdir -p "$DIR"
  ip netns add "$NAME"
  in_hv ip link set lo up
  in_hv ip link add br0 type bridge ageing_time 30000
  in_hv ip link set br0 up
  for n in 1 2 3; do add_vm "$n"; done
  local ext=$NAME-ext
  ip netns add "$ext"
  ip link add uplink netns "$NAME" type veth peer name eth0 netns "$ext"
  ip -n "$ext" link set eth0 address $EXT_MAC up
  ip -n "$ext" link set lo up
  ip -n "$ext" addr add 10.0.0.100/24 dev eth0
  # Learning off before the link comes up: the external host's first
  # frames (IPv6 DAD, MLD) would otherwise teach br0 its MAC.
  in_hv ip link set uplink master br0
  in_hv bridge link set dev uplink learning off
  in_hv ip link set uplink up
  ip -n "$NAME-vm1" neigh replace 10.0.0.100 lladdr $EXT_MAC dev eth0 nud permanent
  ip -n "$ext" neigh replace 10.0.0.1 lladdr "$(vm_mac 1)" dev eth0 nud permanent
  # The VMs ARP for each other: br0 learns vnet1..3.
  for n in 1 2 3; do
    for m in 1 2 3; do
      [ "$n" = "$m" ] || udp "$NAME-vm$n" "10.0.0.$m" 1 0
    done
  done
}

learn() {
  in_hv bridge link set dev uplink learning "${1:?on or off}"
  if [ "$1" = on ]; then
    # ext speaks first, so that br0 learns it before vm1 sends.
    udp "$NAME-ext" 10.0.0.1 1 0
  fi
}

# iperf NS_FROM NS_TO IP SECONDS RATE: UDP iperf3, 1400-byte datagrams;
# prints the Ethernet frames and bytes the client sent.
iperf() {
  local from=$1 to=$2 ip=$3 secs=$4 rate=$5 pidfile=$DIR/iperf3-$2.pid
  ip netns exec "$to" iperf3 -s -1 -D -I "$pidfile" >/dev/null
  for _ in $(seq 50); do
    ip netns exec "$to" ss -ltn 2>/dev/null | grep -q ':5201 ' && break
    sleep 0.1
  done
  ip netns exec "$from" iperf3 -u -c "$ip" -b "$rate" -l 1400 -t "$secs" -J >"$DIR/iperf3-$from.json"
  # Each datagram is one frame: 1400 + 8 UDP + 20 IPv4 + 14 Ethernet.
  local pkts
  pkts=$(grep -o '"packets":[[:space:]]*[0-9]*' "$DIR/iperf3-$from.json" | tail -1 | grep -o '[0-9]*$')
  echo "sent_packets $pkts sent_bytes $((pkts * 1442))"
}

noise() {
  local secs=${1:-3}
  udp "$NAME-vm2" 10.0.0.255 $((secs * 100)) 0.005 &
  udp "$NAME-vm3" 239.1.1.1 $((secs * 100)) 0.005
  wait
}

port() {
  case "${1:-}" in
  add) add_vm "${2:?N}" ;;
  del)
    in_hv ip link del "vnet$2" 2>/dev/null || true
    ip netns del "$NAME-vm$2" 2>/dev/null || true
    ;;
  *) echo "usage: linuxbridge.sh port NAME add|del N" >&2; exit 2 ;;
  esac
}

down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}'); do
    case $ns in "$NAME" | "$NAME"-*) ip netns del "$ns" 2>/dev/null || true ;; esac
  done
  if [ -d "$DIR" ]; then
    for f in "$DIR"/iperf3-*.pid; do
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$DIR"
  fi
}

case $cmd in
up) up ;;
learn) learn "${3:-}" ;;
flood) iperf "$NAME-vm1" "$NAME-ext" 10.0.0.100 "${3:-5}" "${4:-20M}" ;;
east) iperf "$NAME-vm2" "$NAME-vm3" 10.0.0.3 "${3:-5}" "${4:-20M}" ;;
noise) noise "${3:-3}" ;;
port) port "${3:-}" "${4:-}" ;;
down) down ;;
*)
  sed -n '2,20p' "$0" >&2
  exit 2
  ;;
esac
