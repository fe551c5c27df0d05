package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs/unixctl"
)

// Scale is the size of a benchmark host.
type Scale struct {
	// Ports is the number of OVS ports on br-int; each has a kernel tap
	// of the same name in the host's namespace for the netlink source.
	Ports int
	// VLANs is the number of access VLANs; Ports/VLANs ports share each,
	// which bounds a flooded megaflow's action list.
	VLANs int
	// MACsPerPort is how many source MACs each port teaches the FDB.
	MACsPerPort int
	// Megaflows is the number of megaflows installed; Flooded of them are
	// unknown-unicast floods, the rest single-output unicast between
	// learned MACs.
	Megaflows int
	Flooded   int
	// Rules is the total number of OpenFlow rules on br-int; rules beyond
	// the forwarding set go to a table no packet visits, so they cost OVS
	// only when a rule dump walks them.
	Rules int
}

// FullScale is the target host: 500 ports, 4,000 FDB entries, 5,000
// megaflows (50 flooded) and 20,000 OpenFlow rules (the rule count the
// peer exporters are measured at, see scripts/bench-peers.sh).
var FullScale = Scale{Ports: 500, VLANs: 50, MACsPerPort: 8, Megaflows: 5000, Flooded: 50, Rules: 20000}

// SmallScale is the CI-sized host of TestBenchSetupSmall.
var SmallScale = Scale{Ports: 10, VLANs: 2, MACsPerPort: 5, Megaflows: 100, Flooded: 5, Rules: 100}

// FDBEntries is the number of MACs the setup teaches br-int.
func (s Scale) FDBEntries() int { return s.Ports * s.MACsPerPort }

func (s Scale) check() error {
	switch {
	case s.Ports <= 0 || s.VLANs <= 0 || s.Ports%s.VLANs != 0:
		return fmt.Errorf("scale: %d ports do not split into %d VLANs", s.Ports, s.VLANs)
	case s.Ports/s.VLANs < 3:
		return errors.New("scale: a VLAN needs at least 3 ports for a flood to reach two of them")
	case s.MACsPerPort <= 0 || s.MACsPerPort > 256 || s.Ports > 65536:
		return errors.New("scale: MACs per port must be 1..256 and ports at most 65536")
	case s.Flooded > s.Megaflows:
		return errors.New("scale: more flooded megaflows than megaflows")
	}
	per := s.Ports / s.VLANs
	// Distinct (source MAC, destination port) pairs per VLAN.
	if capacity := per * s.MACsPerPort * (per - 1) * s.VLANs; s.Megaflows-s.Flooded > capacity {
		return fmt.Errorf("scale: %d unicast megaflows need more than the %d distinct MAC pairs", s.Megaflows-s.Flooded, capacity)
	}
	return nil
}

// Port is one benchmark port, named and labelled like a Neutron port
// plugged by the OVS firewall driver (tap directly on br-int).
type Port struct {
	Name    string // "tap" + the first 11 characters of IfaceID
	OFPort  int
	VLAN    int
	IfaceID string
	VMUUID  string
	// MACs are the source MACs this port teaches the FDB; MACs[0] is the
	// port's attached-mac.
	MACs []net.HardwareAddr
}

// packet is one frame injected with netdev-dummy/receive.
type packet struct {
	port string
	flow string // datapath flow syntax, as OVS's own tests use
}

// Env is a running benchmark host: a private ovsdb-server and an
// ovs-vswitchd with the dummy datapath in netns Name, br-int populated to
// Scale.
type Env struct {
	Scale  Scale
	Name   string
	Base   string
	RunDir string
	// Datapath is br-int's datapath as dpctl/dump-dps names it.
	Datapath string
	Ports    []Port

	uc      *unixctl.Client
	floods  []packet
	singles []packet
}

// Bridge is the benchmark bridge.
const Bridge = "br-int"

// defaultMACTableSize is OVS's default other_config:mac-table-size.
const defaultMACTableSize = 8192

// normalCookie marks the table-94 NORMAL rule, as in lab/lab.sh.
const normalCookie = "0xe4fc1a92d440c578"

// benchBase is where benchmark hosts keep their files; OVS_FLOOD_BENCH_BASE
// overrides it.
func benchBase() string {
	if b := os.Getenv("OVS_FLOOD_BENCH_BASE"); b != "" {
		return b
	}
	return "/tmp/ovs-flood-bench"
}

// Missing lists what the machine lacks to run a benchmark host.
func Missing() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, b := range []string{"ovsdb-server", "ovsdb-tool", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	return missing
}

// Setup starts a benchmark host named name (a netns name: keep it short)
// at scale s. The host is torn down by Teardown; leftovers of an earlier,
// interrupted run of the same name are removed first.
func Setup(ctx context.Context, name string, s Scale) (*Env, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	base := filepath.Join(benchBase(), name)
	e := &Env{Scale: s, Name: name, Base: base, RunDir: filepath.Join(base, "run")}
	e.plan()
	_ = e.Teardown()
	ok := false
	defer func() {
		if !ok {
			_ = e.Teardown()
		}
	}()
	steps := []struct {
		what string
		f    func(context.Context) error
	}{
		{"start OVS", e.startOVS},
		{"create taps", e.createTaps},
		{"configure br-int", e.configureBridge},
		{"install OpenFlow rules", e.installRules},
		{"teach the FDB", e.learn},
		{"install megaflows", e.installMegaflows},
	}
	for _, st := range steps {
		if err := st.f(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, st.what, err)
		}
	}
	ok = true
	return e, nil
}

// plan names the ports and builds the packets to inject.
func (e *Env) plan() {
	per := e.Scale.Ports / e.Scale.VLANs
	for i := range e.Scale.Ports {
		id := fmt.Sprintf("be%06x-%04x-4000-8000-%012x", i, i&0xffff, i)
		p := Port{
			Name:    "tap" + id[:11],
			OFPort:  i + 1,
			VLAN:    100 + i/per,
			IfaceID: id,
			VMUUID:  fmt.Sprintf("%08x-0000-4000-9000-%012x", i, i),
		}
		for k := range e.Scale.MACsPerPort {
			// Neutron's OUI; MACs[0] is the port's attached-mac.
			p.MACs = append(p.MACs, net.HardwareAddr{0xfa, 0x16, 0x3e, byte(k), byte(i >> 8), byte(i)})
		}
		e.Ports = append(e.Ports, p)
	}
	m := e.Scale.MACsPerPort
	macs := per * m // MACs in one VLAN
	for j := range e.Scale.Megaflows - e.Scale.Flooded {
		// Unicast between learned MACs on two ports of one VLAN: each
		// (source MAC, destination MAC) pair is its own megaflow.
		v, k := j%e.Scale.VLANs, j/e.Scale.VLANs
		s := k % macs
		hop := 1 + (k/macs)%(per-1)
		src := e.Ports[v*per+s/m]
		dst := e.Ports[v*per+(s/m+hop)%per]
		e.singles = append(e.singles, packet{src.Name, frame(src.MACs[s%m], dst.MACs[s%m])})
	}
	for f := range e.Scale.Flooded {
		// A destination nobody ever sends from: NORMAL floods it to
		// every other port of the VLAN (and br-int's LOCAL port).
		v := f % e.Scale.VLANs
		src := e.Ports[v*per+(f/e.Scale.VLANs)%per]
		dst := net.HardwareAddr{0x02, 0xee, 0xee, 0x00, byte(f >> 8), byte(f)}
		e.floods = append(e.floods, packet{src.Name, frame(src.MACs[0], dst)})
	}
}

// frame is a UDP/IPv4 frame in datapath flow syntax.
func frame(src, dst net.HardwareAddr) string {
	return fmt.Sprintf("eth(src=%s,dst=%s),eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=40000,dst=5201)", src, dst)
}

// FloodDsts returns the unknown destination MACs the setup floods.
func (e *Env) FloodDsts() []string {
	out := make([]string, 0, len(e.floods))
	for _, p := range e.floods {
		_, rest, _ := strings.Cut(p.flow, "dst=")
		out = append(out, rest[:17])
	}
	return out
}

// FloodPorts returns the port each flood enters through, by destination MAC.
func (e *Env) FloodPorts() map[string]string {
	out := map[string]string{}
	for i, d := range e.FloodDsts() {
		out[d] = e.floods[i].port
	}
	return out
}

// cmd runs a command with OVS_RUNDIR pointing at this host.
func (e *Env) cmd(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "OVS_RUNDIR="+e.RunDir, "OVS_LOGDIR="+e.RunDir, "OVS_DBDIR="+e.RunDir)
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(trim(args), " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// trim shortens long argument lists in error messages.
func trim(args []string) []string {
	if len(args) > 12 {
		return append(append([]string{}, args[:12]...), fmt.Sprintf("... (%d more)", len(args)-12))
	}
	return args
}

// inNs runs a command inside the host's namespace.
func (e *Env) inNs(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	return e.cmd(ctx, stdin, "ip", append([]string{"netns", "exec", e.Name, name}, args...)...)
}

func (e *Env) vsctl(ctx context.Context, args ...string) (string, error) {
	return e.cmd(ctx, "", "ovs-vsctl", append([]string{"--db=unix:" + e.RunDir + "/db.sock", "--timeout=60"}, args...)...)
}

// startOVS is lab/lab.sh's start_ovs with the dummy datapath:
// --enable-dummy=override replaces the system and netdev datapaths and
// network devices with OVS's in-memory dummies (as OVS's own test suite
// does), so ports need no kernel devices and packets are injected with
// netdev-dummy/receive.
func (e *Env) startOVS(ctx context.Context) error {
	if err := os.MkdirAll(e.RunDir, 0o755); err != nil {
		return err
	}
	if _, err := e.cmd(ctx, "", "ip", "netns", "add", e.Name); err != nil {
		return err
	}
	if _, err := e.inNs(ctx, "", "ip", "link", "set", "lo", "up"); err != nil {
		return err
	}
	db := filepath.Join(e.RunDir, "conf.db")
	if _, err := e.cmd(ctx, "", "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	if _, err := e.inNs(ctx, "", "ovsdb-server", db, "--remote=punix:"+e.RunDir+"/db.sock",
		"--pidfile="+e.RunDir+"/ovsdb-server.pid", "--unixctl="+e.RunDir+"/ovsdb-server.ctl",
		"--log-file="+e.RunDir+"/ovsdb-server.log", "-vconsole:off", "--detach", "--no-chdir"); err != nil {
		return err
	}
	if _, err := e.vsctl(ctx, "--no-wait", "init"); err != nil {
		return err
	}
	if _, err := e.inNs(ctx, "", "ovs-vswitchd", "unix:"+e.RunDir+"/db.sock", "--enable-dummy=override",
		"--pidfile="+e.RunDir+"/ovs-vswitchd.pid", "--log-file="+e.RunDir+"/ovs-vswitchd.log",
		"-vconsole:off", "--detach", "--no-chdir"); err != nil {
		return err
	}
	e.uc = unixctl.New(e.RunDir, unixctl.Options{Timeout: 30 * time.Second})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.uc.Call(ctx, "version")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ovs-vswitchd did not answer (see %s/ovs-vswitchd.log): %w", e.RunDir, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createTaps creates one kernel tap per port, named like it, so the
// netlink source reads as many devices as on a real hypervisor. The taps
// carry no traffic: OVS's ports are dummies of the same names.
func (e *Env) createTaps(ctx context.Context) error {
	var b strings.Builder
	for _, p := range e.Ports {
		fmt.Fprintf(&b, "tuntap add mode tap name %s\n", p.Name)
	}
	for _, p := range e.Ports {
		fmt.Fprintf(&b, "link set %s up\n", p.Name)
	}
	_, err := e.cmd(ctx, b.String(), "ip", "-n", e.Name, "-batch", "-")
	return err
}

func (e *Env) configureBridge(ctx context.Context) error {
	// Megaflows idle out after 10 s by default: keep them for the whole run.
	// The FDB ages out after mac-aging-time: the maximum, 3600 s, outlives
	// a benchmark run.
	args := []string{
		"set", "Open_vSwitch", ".", "other_config:max-idle=600000",
		"--", "add-br", Bridge,
		"--", "set", "bridge", Bridge, "datapath_type=netdev", "fail_mode=secure",
		"other_config:mac-aging-time=3600",
	}
	if n := e.Scale.FDBEntries(); n > defaultMACTableSize {
		// Hosts with many MACs raise the table as Neutron does (50000).
		args = append(args, "other_config:mac-table-size="+strconv.Itoa(max(n, 50000)))
	}
	for _, p := range e.Ports {
		args = append(args, "--", "add-port", Bridge, p.Name, "tag="+strconv.Itoa(p.VLAN),
			"--", "set", "interface", p.Name, "type=dummy", "ofport_request="+strconv.Itoa(p.OFPort),
			"external_ids:iface-id="+p.IfaceID, "external_ids:attached-mac="+p.MACs[0].String(),
			"external_ids:vm-uuid="+p.VMUUID, "external_ids:iface-status=active")
	}
	if _, err := e.vsctl(ctx, args...); err != nil {
		return err
	}
	dps, err := e.uc.Call(ctx, "dpctl/dump-dps")
	if err != nil {
		return err
	}
	names, err := ovs.ParseDumpDPs(dps)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return fmt.Errorf("want one datapath, dpctl/dump-dps says %q", dps)
	}
	e.Datapath = names[0]
	return nil
}

// installRules installs lab/lab.sh's seed-000 rule set per port (VM
// egress by NORMAL in table 94, ingress to each VM by output in table 81)
// plus filler rules in table 72, which no packet visits, up to Rules.
func (e *Env) installRules(ctx context.Context) error {
	var b strings.Builder
	n := 0
	add := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
		n++
	}
	for _, p := range e.Ports {
		add("table=0,priority=100,in_port=%d,actions=resubmit(,94)", p.OFPort)
		add("table=81,priority=50,dl_dst=%s,actions=output:%d", p.MACs[0], p.OFPort)
	}
	add("table=0,priority=10,actions=resubmit(,94)")
	add("table=94,cookie=%s,priority=1,actions=NORMAL", normalCookie)
	for k := 0; n < e.Scale.Rules; k++ {
		p := e.Ports[k%len(e.Ports)]
		add("table=72,priority=70,reg5=%d,tcp,tp_dst=%d,actions=drop", p.OFPort, 1+k/len(e.Ports))
	}
	f := filepath.Join(e.Base, "flows.txt")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		return err
	}
	_, err := e.cmd(ctx, "", "ovs-ofctl", "-O", "OpenFlow13", "replace-flows", Bridge, f)
	return err
}

// receive injects each packet n times, one unixctl call per packet
// (about 0.1 ms over the kept connection, against 6 ms for an ovs-appctl
// exec). n must stay below the dummy device's receive queue (100).
func (e *Env) receive(ctx context.Context, pkts []packet, n int) error {
	args := make([]string, 0, n+1)
	for _, p := range pkts {
		args = append(args[:0], p.port)
		for range n {
			args = append(args, p.flow)
		}
		if _, err := e.uc.Call(ctx, "netdev-dummy/receive", args...); err != nil {
			return err
		}
	}
	return nil
}

// floodBurst is how many packets Flood sends per flooded megaflow before
// each benchmark poll: enough that, over a poll of a few hundred ms, each
// flood stays above the detector's --flood.min-pps (10) and counts as
// sustained.
const floodBurst = 20

// Flood sends n more packets down every flooded megaflow, so that the next
// poll sees their counters move (the detector, and the fdb/show behind it,
// only look at megaflows that counted packets since the last poll). It
// returns once the datapath has counted them: the dummy device queues
// received packets for ovs-vswitchd's main loop, and a poll started
// earlier would see some floods move and others not.
func (e *Env) Flood(ctx context.Context, n int) error {
	before, err := e.hits(ctx)
	if err != nil {
		return err
	}
	if err := e.receive(ctx, e.floods, n); err != nil {
		return err
	}
	want := before + uint64(n*len(e.floods))
	return e.waitFor(ctx, 5*time.Second, func() (bool, error) {
		h, err := e.hits(ctx)
		return h >= want, err
	})
}

// hits is the number of packets the datapath has processed (megaflow
// hits and upcalls).
func (e *Env) hits(ctx context.Context) (uint64, error) {
	st, err := e.datapathStats(ctx)
	return st.Hit + st.Missed, err
}

// learn teaches br-int every port's MACs with one broadcast each, then
// deletes the broadcast megaflows that left behind (the FDB stays).
func (e *Env) learn(ctx context.Context) error {
	var pkts []packet
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, p := range e.Ports {
		for _, m := range p.MACs {
			pkts = append(pkts, packet{p.Name, frame(m, bcast)})
		}
	}
	want := uint64(e.Scale.FDBEntries())
	var got uint64
	for attempt := 0; attempt < 3 && got < want; attempt++ {
		if err := e.receive(ctx, pkts, 1); err != nil {
			return err
		}
		if err := e.waitFor(ctx, 5*time.Second, func() (bool, error) {
			st, err := e.fdbStats(ctx)
			got = st.Entries
			return got >= want, err
		}); err != nil && !errors.Is(err, errTimeout) {
			return err
		}
	}
	if got != want {
		return fmt.Errorf("fdb/stats-show counts %d entries, want %d", got, want)
	}
	_, err := e.uc.Call(ctx, "dpctl/del-flows", e.Datapath)
	return err
}

// installMegaflows injects one packet per megaflow and waits until the
// datapath holds them all (a packet dropped by a full dummy receive queue
// is simply sent again).
func (e *Env) installMegaflows(ctx context.Context) error {
	pkts := append(append([]packet{}, e.singles...), e.floods...)
	var got int
	for attempt := 0; attempt < 3 && got < e.Scale.Megaflows; attempt++ {
		if err := e.receive(ctx, pkts, 1); err != nil {
			return err
		}
		if err := e.waitFor(ctx, 5*time.Second, func() (bool, error) {
			n, err := e.FlowCount(ctx)
			got = n
			return n >= e.Scale.Megaflows, err
		}); err != nil && !errors.Is(err, errTimeout) {
			return err
		}
	}
	if got != e.Scale.Megaflows {
		return fmt.Errorf("dpctl/show counts %d megaflows, want %d", got, e.Scale.Megaflows)
	}
	return nil
}

var errTimeout = errors.New("timed out")

func (e *Env) waitFor(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *Env) fdbStats(ctx context.Context) (ovs.FDBStats, error) {
	out, err := e.uc.Call(ctx, "fdb/stats-show", Bridge)
	if err != nil {
		return ovs.FDBStats{}, err
	}
	return ovs.ParseFDBStats(out)
}

// FlowCount returns the datapath's megaflow count (dpctl/show).
func (e *Env) FlowCount(ctx context.Context) (int, error) {
	st, err := e.datapathStats(ctx)
	return st.Flows, err
}

func (e *Env) datapathStats(ctx context.Context) (ovs.DatapathStats, error) {
	out, err := e.uc.Call(ctx, "dpctl/show", e.Datapath)
	if err != nil {
		return ovs.DatapathStats{}, err
	}
	dps, err := ovs.ParseDpctlShow(out)
	if err != nil {
		return ovs.DatapathStats{}, err
	}
	if len(dps) != 1 {
		return ovs.DatapathStats{}, fmt.Errorf("dpctl/show %s: %d datapaths", e.Datapath, len(dps))
	}
	return dps[0], nil
}

// Pid returns the pid of daemon ("ovs-vswitchd", "ovsdb-server").
func (e *Env) Pid(daemon string) (int, error) {
	b, err := os.ReadFile(filepath.Join(e.RunDir, daemon+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Teardown stops the daemons (by the pids they wrote) and deletes the
// namespace with its taps and the host's files.
func (e *Env) Teardown() error {
	if e.uc != nil {
		_ = e.uc.Close()
	}
	var errs []error
	var pids []int
	for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
		if pid, err := e.Pid(d); err == nil && pid > 0 {
			if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGTERM) == nil {
				pids = append(pids, pid)
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		alive := false
		for _, pid := range pids {
			if alive = alive || processAlive(pid); alive {
				break
			}
		}
		if !alive {
			break
		}
	}
	if _, err := os.Stat(filepath.Join("/run/netns", e.Name)); err == nil {
		if out, err := exec.Command("ip", "netns", "del", e.Name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", e.Name, err, out))
		}
	}
	if err := os.RemoveAll(e.Base); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}

// procStatus returns a field of /proc/<pid>/status in kB ("VmHWM").
func procStatus(pid int, field string) (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		return strconv.ParseInt(num, 10, 64)
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}
