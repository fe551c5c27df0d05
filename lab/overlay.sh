#!/usr/bin/env bash
# overlay.sh: a VXLAN mesh of three Open vSwitch "hypervisors" wired the way
# Neutron's OVS agent wires br-int and br-tun without l2population (seed 001).
#
#   overlay.sh up     [NAME]   three hypervisors NAME-hv1..3, an underlay NAME-ul,
#                              br-int + br-tun + br-phy on each, a VXLAN full mesh
#   overlay.sh flood  [NAME] [SECONDS] [PPS] [HV]  hvHV's (hv1's) vm1 sends UDP to a MAC nobody owns:
#                              every copy is flooded to the local neighbour and to
#                              both remote hypervisors
#   overlay.sh warm   [NAME]   every VM sends one datagram to every other (MACs learned everywhere)
#   overlay.sh east   [NAME] [SECONDS] [PPS]  hv1's vm1 sends UDP to hv2's vm1 after warm:
#                              learned remote unicast through one tunnel (no flood)
#   overlay.sh capture NAME DIR   dump megaflows, dpif/show, FDB, br-tun flows and
#                              tunnel interfaces of every hypervisor into DIR
#   overlay.sh env    [NAME] [HV]  print OVS_RUNDIR of hypervisor HV (1..3)
#   overlay.sh down   [NAME]   stop everything and delete the namespaces
#
# Topology (nothing touches the host's network):
#   netns NAME-ul     : Linux bridge ul0, the underlay "switch"
#   netns NAME-hvN    : ovsdb-server + ovs-vswitchd (userspace datapath)
#     br-phy          : port phy0 (veth to the underlay), IP 172.31.0.N/24 on the
#                       bridge's internal port: the tunnel endpoint (on the netdev
#                       datapath the endpoint must be an OVS bridge port)
#     br-int          : NORMAL; VMs tapvm1..2 (VLAN 1 access), patch-tun
#     br-tun          : patch-int, vxM (type vxlan, remote_ip=172.31.0.M,
#                       key=flow) to each other hypervisor M; Neutron's tables:
#                       0 classify, 10 learn from tunnels, 20 learned unicast,
#                       22 flood to every tunnel. Frames from a tunnel only ever go
#                       to patch-int (split horizon: no tunnel-to-tunnel loop).
#                       hv3 instead has one flow-based port vxflow (remote_ip=flow)
#                       and sets each copy's remote in its flows.
#   netns NAME-hvN-vmK: eth0 02:00:00:01:0N:0K, 10.0.100.(10N+K)/24
# Static ARP everywhere; the address 10.0.100.99 maps to 02:00:00:00:99:99,
# which no VM owns, so every frame to it is unknown unicast on every bridge.
set -euo pipefail

cmd=${1:-}
NAME=${2:-ov}
BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
HVS=3
VMS=2
VNI=0x64
NOBODY_MAC=02:00:00:00:99:99
NOBODY_IP=10.0.100.99

hv() { echo "$NAME-hv$1"; }
run_dir() { echo "$BASE/$NAME/hv$1/run"; }
ul_ip() { echo "172.31.0.$1"; }
phy_mac() { printf '02:00:00:ff:00:%02x' "$1"; }
vm_ns() { echo "$NAME-hv$1-vm$2"; }
vm_mac() { printf '02:00:00:01:%02x:%02x' "$1" "$2"; }
vm_ip() { echo "10.0.100.$((10 * $1 + $2))"; }

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
vsctl() { local n=$1; shift; ovs-vsctl --db="unix:$(run_dir "$n")/db.sock" "$@"; }
ofctl() { local n=$1; shift; in_ns "$(hv "$n")" env OVS_RUNDIR="$(run_dir "$n")" ovs-ofctl -O OpenFlow13 "$@"; }
appctl() { local n=$1; shift; in_ns "$(hv "$n")" env OVS_RUNDIR="$(run_dir "$n")" ovs-appctl "$@"; }
ofport() { vsctl "$1" get interface "$2" ofport; }

offload_off() { # $1 netns, $2 dev: the userspace datapath needs software checksums on veths
  ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

need() {
  local missing=()
  for b in ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ovs-appctl ip ethtool perl; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "overlay.sh: missing ${missing[*]}: apt-get install openvswitch-switch iproute2 ethtool perl" >&2
    exit 2
  fi
}

new_ns() {
  ip netns add "$1"
  # no IPv6: its ND/MLD multicasts would teach the bridges the MACs we want unknown
  in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  in_ns "$1" ip link set lo up
}

start_ovs() { # $1 hypervisor number
  local n=$1 run ns
  run=$(run_dir "$n")
  ns=$(hv "$n")
  mkdir -p "$run"
  [ -f "$run/conf.db" ] || ovsdb-tool create "$run/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  in_ns "$ns" env OVS_RUNDIR="$run" ovsdb-server "$run/conf.db" --remote="punix:$run/db.sock" \
    --pidfile="$run/ovsdb-server.pid" --unixctl="$run/ovsdb-server.ctl" \
    --log-file="$run/ovsdb-server.log" --detach --no-chdir
  vsctl "$n" --no-wait init
  in_ns "$ns" env OVS_RUNDIR="$run" ovs-vswitchd "unix:$run/db.sock" --pidfile="$run/ovs-vswitchd.pid" \
    --log-file="$run/ovs-vswitchd.log" --detach --no-chdir
  for _ in $(seq 50); do
    [ -S "$run/ovs-vswitchd.$(cat "$run/ovs-vswitchd.pid" 2>/dev/null).ctl" ] && return 0
    sleep 0.1
  done
  echo "overlay.sh: ovs-vswitchd of $ns did not start, see $run/ovs-vswitchd.log" >&2
  exit 1
}

stop_ovs() { # $1 hypervisor number
  local run
  run=$(run_dir "$1")
  for d in ovs-vswitchd ovsdb-server; do
    [ -f "$run/$d.pid" ] && kill "$(cat "$run/$d.pid")" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    local alive=0
    for d in ovs-vswitchd ovsdb-server; do
      [ -f "$run/$d.pid" ] && kill -0 "$(cat "$run/$d.pid")" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  rm -f "$run"/*.pid "$run"/*.ctl
}

# underlay: br-phy carries the tunnel endpoint IP; phy0 is its veth to ul0
underlay() { # $1 hypervisor number
  local n=$1 ns
  ns=$(hv "$n")
  ip link add phy0 netns "$ns" type veth peer name "ul-hv$n" netns "$NAME-ul"
  in_ns "$NAME-ul" ip link set "ul-hv$n" master ul0 up
  in_ns "$ns" ip link set phy0 up
  offload_off "$ns" phy0
  offload_off "$NAME-ul" "ul-hv$n"
  vsctl "$n" add-br br-phy -- set bridge br-phy datapath_type=netdev \
    other_config:hwaddr="$(phy_mac "$n")" other_config:mac-aging-time=3600 -- add-port br-phy phy0
  in_ns "$ns" ip addr add "$(ul_ip "$n")/24" dev br-phy
  in_ns "$ns" ip link set br-phy up
  for m in $(seq $HVS); do
    [ "$m" = "$n" ] && continue
    # the tunnel's next hop, resolved without ARP so the lab never waits on it
    appctl "$n" tnl/neigh/set br-phy "$(ul_ip "$m")" "$(phy_mac "$m")" >/dev/null
    in_ns "$ns" ip neigh replace "$(ul_ip "$m")" lladdr "$(phy_mac "$m")" dev br-phy nud permanent
  done
}

add_vm() { # $1 hypervisor, $2 vm
  local n=$1 k=$2 ns
  ns=$(vm_ns "$n" "$k")
  new_ns "$ns"
  ip link add "tapvm$k" netns "$(hv "$n")" type veth peer name eth0 netns "$ns"
  in_ns "$ns" ip link set eth0 address "$(vm_mac "$n" "$k")" up
  in_ns "$ns" ip addr add "$(vm_ip "$n" "$k")/24" dev eth0
  in_ns "$(hv "$n")" ip link set "tapvm$k" up
  offload_off "$ns" eth0
  offload_off "$(hv "$n")" "tapvm$k"
  vsctl "$n" add-port br-int "tapvm$k" tag=1 -- set interface "tapvm$k" \
    external_ids:iface-id="port-hv$n-vm$k" external_ids:attached-mac="$(vm_mac "$n" "$k")" \
    external_ids:vm-uuid="00000000-0000-4000-8000-0000000000$n$k" external_ids:iface-status=active
  in_ns "$ns" ip neigh replace $NOBODY_IP lladdr $NOBODY_MAC dev eth0 nud permanent
  for m in $(seq $HVS); do
    for j in $(seq $VMS); do
      [ "$m$j" = "$n$k" ] && continue
      in_ns "$ns" ip neigh replace "$(vm_ip "$m" "$j")" lladdr "$(vm_mac "$m" "$j")" dev eth0 nud permanent
    done
  done
}

# tun_flows: br-tun as Neutron's OVS agent programs it without l2population
# FLOW_HV is the hypervisor whose br-tun has one flow-based tunnel port,
# vxflow (remote_ip=flow), instead of one port per remote: its flows set the
# remote per copy (set_field:…->tun_dst), and learning records the sender's
# endpoint, as flow-based tunnel designs do.
FLOW_HV=3

# tun_flows: br-tun as Neutron's OVS agent programs it without l2population
tun_flows() { # $1 hypervisor number
  local n=$1 f patch tuns=() m learn_dst="" flood=""
  f=$BASE/$NAME/hv$n/br-tun.flows
  patch=$(ofport "$n" patch-int)
  if [ "$n" = $FLOW_HV ]; then
    tuns=("$(ofport "$n" vxflow)")
    learn_dst="load:NXM_NX_TUN_IPV4_SRC[]->NXM_NX_TUN_IPV4_DST[],"
    for m in $(seq $HVS); do
      [ "$m" = "$n" ] || flood+=",set_field:$(ul_ip "$m")->tun_dst,output:${tuns[0]}"
    done
  else
    for m in $(seq $HVS); do
      [ "$m" = "$n" ] || tuns+=("$(ofport "$n" "vx$m")")
    done
    for p in "${tuns[@]}"; do flood+=",output:$p"; done
  fi
  {
    echo "table=0,priority=1,in_port=$patch,actions=resubmit(,2)"
    for p in "${tuns[@]}"; do echo "table=0,priority=1,in_port=$p,actions=resubmit(,4)"; done
    echo "table=0,priority=0,actions=drop"
    # from br-int: unicast to the learned table, broadcast/multicast to the flood table
    echo "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)"
    echo "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)"
    # from a tunnel: VNI to the local VLAN, then learn where the sender lives
    echo "table=4,priority=1,tun_id=$VNI,actions=mod_vlan_vid:1,resubmit(,10)"
    echo "table=4,priority=0,actions=drop"
    echo "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x5e1b6a2d,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],${learn_dst}output:OXM_OF_IN_PORT[]),output:$patch"
    echo "table=20,priority=0,actions=resubmit(,22)"
    # unknown unicast and broadcast: a copy to every remote hypervisor
    echo "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_field:$VNI->tun_id$flood"
    echo "table=22,priority=0,actions=drop"
  } >"$f"
  ofctl "$n" replace-flows br-tun "$f"
}

hv_up() { # $1 hypervisor number
  local n=$1 ns
  ns=$(hv "$n")
  new_ns "$ns"
  start_ovs "$n"
  underlay "$n"
  vsctl "$n" add-br br-int -- set bridge br-int datapath_type=netdev fail_mode=secure \
    other_config:mac-aging-time=300 \
    -- add-br br-tun -- set bridge br-tun datapath_type=netdev fail_mode=secure \
    -- add-port br-int patch-tun -- set interface patch-tun type=patch options:peer=patch-int \
    -- add-port br-tun patch-int -- set interface patch-int type=patch options:peer=patch-tun
  ofctl "$n" add-flow br-int "priority=0,actions=NORMAL"
  if [ "$n" = $FLOW_HV ]; then
    vsctl "$n" add-port br-tun vxflow -- set interface vxflow type=vxlan \
      options:remote_ip=flow options:local_ip="$(ul_ip "$n")" options:key=flow
  fi
  for m in $(seq $HVS); do
    [ "$m" = "$n" ] || [ "$n" = $FLOW_HV ] && continue
    vsctl "$n" add-port br-tun "vx$m" -- set interface "vx$m" type=vxlan \
      options:remote_ip="$(ul_ip "$m")" options:local_ip="$(ul_ip "$n")" \
      options:key=flow options:df_default=true
  done
  for k in $(seq $VMS); do add_vm "$n" "$k"; done
  tun_flows "$n"
}

up() {
  need
  mkdir -p "$BASE/$NAME"
  new_ns "$NAME-ul"
  in_ns "$NAME-ul" ip link add ul0 type bridge
  # long ageing and no multicast snooping: the underlay must not flood or query
  in_ns "$NAME-ul" ip link set ul0 type bridge ageing_time 360000 mcast_snooping 0
  in_ns "$NAME-ul" ip link set ul0 up
  for n in $(seq $HVS); do hv_up "$n"; done
  announce
  # the underlay must carry a tunnel before the lab is called up
  echo "overlay $NAME up: hypervisors $(hv 1) $(hv 2) $(hv 3)"
}

# send_udp NETNS DEST_IP SECONDS PPS: 1000-byte UDP datagrams at a fixed rate
# (perl is on every Debian; nothing answers, so nothing is learned from replies)
send_udp() {
  in_ns "$1" perl -MIO::Socket::INET -MTime::HiRes=sleep,time -e '
    my ($ip, $secs, $pps) = @ARGV;
    my $s = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => 9, Proto => "udp") or die "socket: $!";
    my $payload = "x" x 1000;
    my $t0 = time;
    for (my $i = 0; $i < $secs * $pps; $i++) {
      my $due = $t0 + $i / $pps;
      my $now = time;
      sleep($due - $now) if $due > $now;
      $s->send($payload);
    }' "$2" "$3" "$4"
}

# announce: every endpoint sends once over the underlay, so that ul0 and every
# br-phy learn where each endpoint lives (otherwise tunnel packets for one host
# are flooded by the underlay to all of them)
announce() {
  for n in $(seq $HVS); do
    for m in $(seq $HVS); do
      [ "$m" = "$n" ] || hello "$(hv "$n")" "$(ul_ip "$m")"
    done
  done
}

# hello NETNS IP: one datagram to every other VM, so every bridge on the way learns the sender
hello() { send_udp "$1" "$2" 1 1; }

flood() { send_udp "$(vm_ns "${5:-1}" 1)" $NOBODY_IP "${3:-10}" "${4:-200}"; }

warm() {
  local n k m j ips
  for n in $(seq $HVS); do
    for k in $(seq $VMS); do
      ips=()
      for m in $(seq $HVS); do
        for j in $(seq $VMS); do
          [ "$m$j" = "$n$k" ] || ips+=("$(vm_ip "$m" "$j")")
        done
      done
      # one datagram to every other VM, from one process per VM
      in_ns "$(vm_ns "$n" "$k")" perl -MIO::Socket::INET -e '
        for my $ip (@ARGV) {
          my $s = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => 9, Proto => "udp") or die "socket: $!";
          $s->send("hello");
        }' "${ips[@]}"
    done
  done
}

# capture DIR: what the tests read from a real mesh, one file per hypervisor and command
capture() {
  local dir=$1 n run
  mkdir -p "$dir"
  for n in $(seq $HVS); do
    run=$(run_dir "$n")
    appctl "$n" dpctl/dump-flows -m netdev@ovs-netdev >"$dir/overlay-hv$n.dpctl-dump-flows-m.txt"
    appctl "$n" dpif/show >"$dir/overlay-hv$n.dpif-show.txt"
    appctl "$n" fdb/show br-int >"$dir/overlay-hv$n.fdb-show-br-int.txt"
    ofctl "$n" dump-flows br-tun >"$dir/overlay-hv$n.ofctl-dump-flows-br-tun.txt"
    vsctl "$n" list interface >"$dir/overlay-hv$n.vsctl-list-interface.txt"
    ovsdb-client transact "unix:$run/db.sock" \
      '["Open_vSwitch",{"op":"select","table":"Interface","where":[],"columns":["_uuid","name","type","ofport","options","external_ids"]}]' \
      >"$dir/overlay-hv$n.select-Interface.json"
  done
}

east() { send_udp "$(vm_ns 1 1)" "$(vm_ip 2 1)" "${3:-10}" "${4:-200}"; }

down() {
  for n in $(seq $HVS); do stop_ovs "$n" || true; done
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME-(hv[0-9]|ul)" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" || true
  done
  rm -rf "${BASE:?}/$NAME"
}

case "$cmd" in
  up) up ;;
  flood) flood "$@" ;;
  warm) warm ;;
  east) east "$@" ;;
  capture) capture "${3:?capture NAME DIR}" ;;
  env) echo "OVS_RUNDIR=$(run_dir "${3:-1}")" ;;
  down) down ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
