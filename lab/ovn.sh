#!/usr/bin/env bash
# ovn.sh: a real OVN (seed 004): ovn-northd with its Northbound and Southbound
# ovsdb-servers, and two chassis, each an Open vSwitch on the userspace
# datapath with its own ovn-controller, joined by Geneve over an underlay.
#
#   ovn.sh up      [NAME]   central NAME-central, chassis NAME-ch1 (vm1, vm2) and
#                           NAME-ch2 (vm3), logical switch sw0 with ports vm1..vm3
#   ovn.sh mode    [NAME] unknown2|unknown1|secure
#                    unknown2: vm2 and vm3 have addresses "<mac> <ip>" and "unknown"
#                    unknown1: only vm2 has "unknown" (one wrong receiver)
#                    secure:   no "unknown", port security on every port (benign twin)
#   ovn.sh flood   [NAME] [SECONDS] [PPS]  vm1 sends UDP to a MAC nobody owns
#   ovn.sh east    [NAME] [SECONDS] [PPS]  vm1 sends UDP to vm2 (known: no flood)
#   ovn.sh trunk   [NAME] [SECONDS] [PPS]  a trunk sub-port vm1c (parent vm1, VLAN 100,
#                           02:00:00:02:01:01) sends 802.1Q-tagged frames to the MAC nobody
#                           owns (raw frames: no 8021q module needed)
#   ovn.sh capture NAME DIR  megaflows, dpif/show, OpenFlow, Southbound tables
#   ovn.sh env     [NAME] [CHASSIS]  print OVS_RUNDIR and the Southbound address
#   ovn.sh down    [NAME]   stop everything and delete the namespaces
#
# Every daemon runs inside the lab's namespaces with private run directories
# and database files; nothing touches the host's OVS or OVN. Unix sockets are
# reachable from every namespace, so the chassis reach the Southbound through
# $BASE/NAME/central/sb.sock.
#   NAME-ul       : Linux bridge ul0 (the underlay)
#   NAME-chN      : ovsdb-server, ovs-vswitchd, ovn-controller (system-id chN);
#                   br-phy holds the Geneve endpoint 172.31.1.N; ovn-controller
#                   creates br-int (datapath_type=netdev) and the Geneve ports
#   NAME-chN-vmK  : eth0 02:00:00:02:00:0K, 10.0.200.K/24, plugged into br-int
#                   as tapvmK with external_ids:iface-id=vmK
# The address 10.0.200.99 maps (static ARP) to 02:00:00:00:99:99, which no port owns.
set -euo pipefail

cmd=${1:-}
NAME=${2:-ovn}
BASE=${LAB_BASE:-/tmp/ovs-flood-lab}
CENTRAL=$BASE/$NAME/central
CHASSIS=2
NOBODY_MAC=02:00:00:00:99:99
NOBODY_IP=10.0.200.99
VMS="1:1 1:2 2:3" # chassis:vm

ch() { echo "$NAME-ch$1"; }
run_dir() { echo "$BASE/$NAME/ch$1/run"; }
ul_ip() { echo "172.31.1.$1"; }
phy_mac() { printf '02:00:00:fe:00:%02x' "$1"; }
vm_ns() { echo "$NAME-ch$1-vm$2"; }
vm_mac() { printf '02:00:00:02:00:%02x' "$1"; }
vm_ip() { echo "10.0.200.$1"; }

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
vsctl() { local n=$1; shift; ovs-vsctl --db="unix:$(run_dir "$n")/db.sock" "$@"; }
appctl() { local n=$1; shift; in_ns "$(ch "$n")" env OVS_RUNDIR="$(run_dir "$n")" ovs-appctl "$@"; }
ofctl() { local n=$1; shift; in_ns "$(ch "$n")" env OVS_RUNDIR="$(run_dir "$n")" ovs-ofctl -O OpenFlow15 "$@"; }
nbctl() { ovn-nbctl --db="unix:$CENTRAL/nb.sock" --timeout=30 "$@"; }
sbctl() { ovn-sbctl --db="unix:$CENTRAL/sb.sock" --timeout=30 "$@"; }

offload_off() {
  ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

need() {
  local missing=()
  for b in ovsdb-server ovs-vswitchd ovs-vsctl ovn-northd ovn-controller ovn-nbctl ovn-sbctl ip ethtool perl; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    echo "ovn.sh: missing ${missing[*]}: apt-get install openvswitch-switch ovn-central ovn-host iproute2 ethtool perl" >&2
    exit 2
  fi
}

new_ns() {
  ip netns add "$1"
  in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  in_ns "$1" ip link set lo up
}

wait_for() { # $1 what, $2.. test command
  local what=$1
  shift
  for _ in $(seq 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "ovn.sh: $what did not come up" >&2
  exit 1
}

central_up() {
  local ns=$NAME-central
  new_ns "$ns"
  mkdir -p "$CENTRAL"
  for db in nb sb; do
    ovsdb-tool create "$CENTRAL/$db.db" "/usr/share/ovn/ovn-$db.ovsschema"
    in_ns "$ns" env OVS_RUNDIR="$CENTRAL" ovsdb-server "$CENTRAL/$db.db" --remote="punix:$CENTRAL/$db.sock" \
      --pidfile="$CENTRAL/$db.pid" --unixctl="$CENTRAL/$db.ctl" --log-file="$CENTRAL/$db.log" --detach --no-chdir
  done
  in_ns "$ns" env OVN_RUNDIR="$CENTRAL" ovn-northd --ovnnb-db="unix:$CENTRAL/nb.sock" \
    --ovnsb-db="unix:$CENTRAL/sb.sock" --pidfile="$CENTRAL/northd.pid" --unixctl="$CENTRAL/northd.ctl" \
    --log-file="$CENTRAL/northd.log" --detach --no-chdir
  nbctl init
}

chassis_up() { # $1 chassis number
  local n=$1 ns run
  ns=$(ch "$n")
  run=$(run_dir "$n")
  new_ns "$ns"
  mkdir -p "$run"
  ovsdb-tool create "$run/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  in_ns "$ns" env OVS_RUNDIR="$run" ovsdb-server "$run/conf.db" --remote="punix:$run/db.sock" \
    --pidfile="$run/ovsdb-server.pid" --unixctl="$run/ovsdb-server.ctl" \
    --log-file="$run/ovsdb-server.log" --detach --no-chdir
  vsctl "$n" --no-wait init
  in_ns "$ns" env OVS_RUNDIR="$run" ovs-vswitchd "unix:$run/db.sock" --pidfile="$run/ovs-vswitchd.pid" \
    --log-file="$run/ovs-vswitchd.log" --detach --no-chdir
  wait_for "ovs-vswitchd of $ns" test -S "$run/db.sock"
  # the Geneve endpoint: an IP on br-phy, whose port phy0 reaches the underlay
  ip link add phy0 netns "$ns" type veth peer name "ul-ch$n" netns "$NAME-ul"
  in_ns "$NAME-ul" ip link set "ul-ch$n" master ul0 up
  in_ns "$ns" ip link set phy0 up
  offload_off "$ns" phy0
  offload_off "$NAME-ul" "ul-ch$n"
  vsctl "$n" add-br br-phy -- set bridge br-phy datapath_type=netdev \
    other_config:hwaddr="$(phy_mac "$n")" other_config:mac-aging-time=3600 -- add-port br-phy phy0
  in_ns "$ns" ip addr add "$(ul_ip "$n")/24" dev br-phy
  in_ns "$ns" ip link set br-phy up
  for m in $(seq $CHASSIS); do
    [ "$m" = "$n" ] && continue
    wait_for "ovs-vswitchd control socket of $ns" appctl "$n" version
    appctl "$n" tnl/neigh/set br-phy "$(ul_ip "$m")" "$(phy_mac "$m")" >/dev/null
    in_ns "$ns" ip neigh replace "$(ul_ip "$m")" lladdr "$(phy_mac "$m")" dev br-phy nud permanent
  done
  vsctl "$n" set open_vswitch . external_ids:system-id="ch$n" external_ids:hostname="ch$n" \
    external_ids:ovn-remote="unix:$CENTRAL/sb.sock" external_ids:ovn-encap-type=geneve \
    external_ids:ovn-encap-ip="$(ul_ip "$n")" external_ids:ovn-bridge-datapath-type=netdev
  in_ns "$ns" env OVN_RUNDIR="$run" OVS_RUNDIR="$run" ovn-controller "unix:$run/db.sock" \
    --pidfile="$run/ovn-controller.pid" \
    --log-file="$run/ovn-controller.log" --detach --no-chdir
  wait_for "br-int of $ns (ovn-controller)" vsctl "$n" br-exists br-int
}

add_vm() { # $1 chassis, $2 vm
  local n=$1 k=$2 ns
  ns=$(vm_ns "$n" "$k")
  new_ns "$ns"
  ip link add "tapvm$k" netns "$(ch "$n")" type veth peer name eth0 netns "$ns"
  in_ns "$ns" ip link set eth0 address "$(vm_mac "$k")" up
  in_ns "$ns" ip addr add "$(vm_ip "$k")/24" dev eth0
  in_ns "$(ch "$n")" ip link set "tapvm$k" up
  offload_off "$ns" eth0
  offload_off "$(ch "$n")" "tapvm$k"
  vsctl "$n" add-port br-int "tapvm$k" -- set interface "tapvm$k" external_ids:iface-id="vm$k" \
    external_ids:attached-mac="$(vm_mac "$k")" external_ids:iface-status=active
  in_ns "$ns" ip neigh replace $NOBODY_IP lladdr $NOBODY_MAC dev eth0 nud permanent
  for j in 1 2 3; do
    [ "$j" = "$k" ] || in_ns "$ns" ip neigh replace "$(vm_ip "$j")" lladdr "$(vm_mac "$j")" dev eth0 nud permanent
  done
}

# mode: the logical ports' addresses and port security (see the header)
mode() {
  local m=${1:?mode unknown2|unknown1|secure} k addr
  for k in 1 2 3; do
    addr="$(vm_mac "$k") $(vm_ip "$k")"
    case "$m/$k" in
      unknown2/2 | unknown2/3 | unknown1/2)
        nbctl lsp-set-addresses "vm$k" "$addr" unknown -- lsp-set-port-security "vm$k" ;;
      unknown*/*)
        nbctl lsp-set-addresses "vm$k" "$addr" -- lsp-set-port-security "vm$k" ;;
      secure/*)
        nbctl lsp-set-addresses "vm$k" "$addr" -- lsp-set-port-security "vm$k" "$addr" ;;
      *) echo "ovn.sh: unknown mode $m (want unknown2, unknown1 or secure)" >&2; exit 2 ;;
    esac
  done
  nbctl --wait=hv sync
}

up() {
  need
  mkdir -p "$BASE/$NAME"
  new_ns "$NAME-ul"
  in_ns "$NAME-ul" ip link add ul0 type bridge
  in_ns "$NAME-ul" ip link set ul0 type bridge ageing_time 360000 mcast_snooping 0
  in_ns "$NAME-ul" ip link set ul0 up
  central_up
  nbctl ls-add sw0
  for n in $(seq $CHASSIS); do chassis_up "$n"; done
  for v in $VMS; do
    nbctl lsp-add sw0 "vm${v#*:}"
    add_vm "${v%:*}" "${v#*:}"
  done
  mode unknown2
  # the underlay learns every endpoint before the first tunnel packet
  for n in $(seq $CHASSIS); do
    for m in $(seq $CHASSIS); do
      [ "$m" = "$n" ] || send_udp "$(ch "$n")" "$(ul_ip "$m")" 1 1
    done
  done
  wait_for "port bindings" test "$(sbctl --bare --columns=chassis find port_binding type='""' | grep -c .)" = 3
  echo "ovn $NAME up: chassis $(ch 1) $(ch 2), Southbound unix:$CENTRAL/sb.sock"
}

# send_udp NETNS DEST_IP SECONDS PPS: 1000-byte UDP datagrams at a fixed rate
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

flood() { send_udp "$(vm_ns 1 1)" $NOBODY_IP "${3:-10}" "${4:-200}"; }

# trunk: the child logical port vm1c behind vm1's tap, tag 100 (Neutron trunk
# sub-port / container), and tagged frames from it to the MAC nobody owns
CHILD_MAC=02:00:00:02:01:01
trunk() {
  nbctl --may-exist lsp-add sw0 vm1c vm1 100 -- lsp-set-addresses vm1c "$CHILD_MAC 10.0.200.101"
  nbctl --wait=hv sync
  in_ns "$(vm_ns 1 1)" perl -MSocket -MTime::HiRes=sleep,time -e '
    my ($secs, $pps, $src, $dst) = @ARGV;
    my $mac = sub { pack("H12", join("", split(/:/, $_[0]))) };
    socket(my $s, 17, 3, 0) or die "AF_PACKET: $!";          # PF_PACKET, SOCK_RAW
    my $ifindex = do { open(my $f, "<", "/sys/class/net/eth0/ifindex") or die $!; 0 + <$f> };
    my $to = pack("S n i S C C a8", 17, 0, $ifindex, 0, 0, 6, $mac->($dst));   # sockaddr_ll
    my $frame = $mac->($dst) . $mac->($src) . pack("n n n", 0x8100, 100, 0x88b5) . ("x" x 1000);
    my $t0 = time;
    for (my $i = 0; $i < $secs * $pps; $i++) {
      my $due = $t0 + $i / $pps;
      my $now = time;
      sleep($due - $now) if $due > $now;
      send($s, $frame, 0, $to) or die "send: $!";
    }' "${3:-10}" "${4:-200}" "$CHILD_MAC" "$NOBODY_MAC"
}
east() { send_udp "$(vm_ns 1 1)" "$(vm_ip 2)" "${3:-10}" "${4:-200}"; }

# capture DIR: datapath and OpenFlow views of each chassis and the Southbound
# tables the agent reads, as the tools print them and as raw OVSDB replies
capture() {
  local dir=$1 n tag=${OVN_CAPTURE_TAG:-}
  mkdir -p "$dir"
  for n in $(seq $CHASSIS); do
    appctl "$n" dpctl/dump-flows -m netdev@ovs-netdev >"$dir/ovn$tag-ch$n.dpctl-dump-flows-m.txt"
    appctl "$n" dpif/show >"$dir/ovn$tag-ch$n.dpif-show.txt"
    ofctl "$n" dump-flows br-int >"$dir/ovn$tag-ch$n.ofctl-dump-flows-br-int.txt"
    vsctl "$n" --columns=name,type,ofport,options,external_ids list interface >"$dir/ovn$tag-ch$n.vsctl-list-interface.txt"
    ovsdb-client transact "unix:$(run_dir "$n")/db.sock" \
      '["Open_vSwitch",{"op":"select","table":"Interface","where":[],"columns":["_uuid","name","type","ofport","options","external_ids"]}]' \
      >"$dir/ovn$tag-ch$n.select-Interface.json"
    vsctl "$n" --columns=external_ids list open_vswitch >"$dir/ovn$tag-ch$n.vsctl-list-open_vswitch.txt"
  done
  sbctl list port_binding >"$dir/ovn$tag.sbctl-list-port_binding.txt"
  sbctl list chassis >"$dir/ovn$tag.sbctl-list-chassis.txt"
  sbctl lflow-list sw0 >"$dir/ovn$tag.sbctl-lflow-list.txt"
  for t in Port_Binding Chassis Encap Datapath_Binding Multicast_Group; do
    ovsdb-client transact "unix:$CENTRAL/sb.sock" "[\"OVN_Southbound\",{\"op\":\"select\",\"table\":\"$t\",\"where\":[]}]" \
      >"$dir/ovn$tag.select-$t.json"
  done
  ovsdb-client get-schema "unix:$CENTRAL/sb.sock" OVN_Southbound >"$dir/ovn$tag.sb-schema.json"
}

down() {
  local pid
  for f in "$BASE/$NAME"/ch*/run/ovn-controller.pid "$BASE/$NAME"/ch*/run/ovs-vswitchd.pid \
    "$BASE/$NAME"/ch*/run/ovsdb-server.pid "$CENTRAL"/northd.pid "$CENTRAL"/nb.pid "$CENTRAL"/sb.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAME-(ch[0-9]|ul|central)" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" || true
  done
  rm -rf "${BASE:?}/$NAME"
}

case "$cmd" in
  up) up ;;
  mode) mode "${3:-}" ;;
  flood) flood "$@" ;;
  east) east "$@" ;;
  trunk) trunk "$@" ;;
  capture) capture "${3:?capture NAME DIR}" ;;
  env) echo "OVS_RUNDIR=$(run_dir "${3:-1}") OVN_SB=unix:$CENTRAL/sb.sock" ;;
  down) down ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
