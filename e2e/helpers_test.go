// Package e2e tests the operations path of ovs-flood-exporter against real
// parts: the agent binary built from this tree, the OVS lab with real
// traffic, Debian's Prometheus, Alertmanager and Chromium, and the deploy/
// files as shipped.
//
// Network namespaces: the agent must run inside the lab's hypervisor
// namespace (netlink only sees the devices of its own namespace), so its
// listener is on that namespace's loopback, which the test process (in the
// root namespace) cannot reach by address. Rather than bridging namespaces
// with socat or veths, every helper process (Prometheus, Alertmanager,
// Chromium, check-deploy.sh) runs in the same namespace through
// "ip netns exec", and the test process itself creates its sockets there:
// nsDial and nsListen switch a locked OS thread into the namespace just for
// the socket(2) call. A socket stays in the namespace it was created in, so
// the resulting connections and listeners are then used from any goroutine.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// The lab's flood (lab.sh flood): vm1 (tapvm1, VLAN 10) sends to the
// external host's MAC, which br-int never learns.
const (
	floodBridge = "br-int"
	floodInPort = "tapvm1"
	floodVLAN   = "10"
	floodDstMAC = "02:00:00:00:00:64"
	// floodActiveLine is the agent's exposition line while the flood is active.
	floodActiveLine = `ovs_flood_active{bridge="br-int",dst_mac="02:00:00:00:00:64",in_port="tapvm1",vlan="10"} 1`
)

var (
	buildOnce sync.Once
	buildDir  string
	agentBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// repoRoot is the module root (the parent of this file's directory).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// goTool finds the go command: PATH first, then the toolchain that built
// this test (CI may run the test binary with a minimal PATH).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// agentBinary builds cmd/ovs-flood-exporter once per test binary run.
func agentBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ovs-flood-e2e-")
		if buildErr != nil {
			return
		}
		agentBin = filepath.Join(buildDir, "ovs-flood-exporter")
		cmd := exec.Command(goTool(), "build", "-o", agentBin, "./cmd/ovs-flood-exporter")
		cmd.Dir = repoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ovs-flood-exporter: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return agentBin
}

// inNetns runs f in network namespace ns, or right here when ns is "".
func inNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	return labtest.InNetns(ns, f)
}

// nsListen opens a TCP listener inside ns.
func nsListen(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := inNetns(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in netns %q: %v", addr, ns, err)
	}
	return l
}

// freePort returns a TCP port that is free on 127.0.0.1 inside ns. Only used
// for lab namespaces, where nothing but this test binds ports, so the port
// cannot be taken between this call and its use.
func freePort(t *testing.T, ns string) int {
	t.Helper()
	l := nsListen(t, ns, "127.0.0.1:0")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// nsClient is an HTTP client whose connections are opened inside ns. Keep-
// alives are off so that every request dials (and so enters ns) afresh.
func nsClient(ns string, tlsConfig *tls.Config) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(ns, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:       dial,
			TLSClientConfig:   tlsConfig,
			DisableKeepAlives: true,
		},
	}
}

// get fetches url and returns the status code and body.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls cond every 250ms until it reports true or timeout passes;
// then the test fails with what cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// proc is a background process started by the test, in its own process
// group so that cleanup also ends its children (Chromium's helpers, the
// iperf3 client of lab.sh flood).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc runs argv in the background, inside ns unless ns is "", with
// stdout and stderr in a log file; the process group is ended when the test
// ends, and the log's tail is printed if the test failed.
func startProc(t *testing.T, ns, name string, env []string, argv ...string) *proc {
	t.Helper()
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s (%s) log tail:\n%s", name, strings.Join(argv, " "), tail(p.output(), 40))
		}
	})
	return p
}

// stop ends the process group: SIGTERM, then SIGKILL after 10s.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived their parent (same group) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitLog waits until re matches the process's output and returns the
// submatches; it fails early if the process exits.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	var m []string
	waitFor(t, timeout, fmt.Sprintf("%s to log /%s/", p.name, re), func() (bool, string) {
		out := p.output()
		if m = re.FindStringSubmatch(out); m != nil {
			return true, ""
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before logging /%s/:\n%s", p.name, p.err, re, tail(out, 40))
		}
		return false, tail(out, 5)
	})
	return m
}

// agent is a running ovs-flood-exporter.
type agent struct {
	*proc
	// addr is the host:port it listens on.
	addr string
}

// listeningRe finds the address exporter-toolkit reports after binding
// (the agent is started on port 0, so this is the only place to learn it).
var listeningRe = regexp.MustCompile(`Listening on.*"address": ?"([^"]+)"`)

// startAgent runs the agent inside ns (the root namespace when ns is "")
// with a 1s poll interval, listening on a kernel-chosen port of 127.0.0.1.
func startAgent(t *testing.T, ns, rundir string, extra ...string) *agent {
	t.Helper()
	argv := append([]string{agentBinary(t),
		"--ovs.rundir=" + rundir,
		"--poll.interval=1s",
		"--web.listen-address=127.0.0.1:0",
		"--log.level=info",
	}, extra...)
	p := startProc(t, ns, "agent", nil, argv...)
	m := p.waitLog(t, listeningRe, 30*time.Second)
	return &agent{proc: p, addr: m[1]}
}

// startFlood runs "lab.sh flood NAME seconds rate" in the background; it is
// stopped (the iperf3 client with it) when the test ends.
func startFlood(t *testing.T, l *labtest.Lab, seconds, rate string) *proc {
	t.Helper()
	return startProc(t, "", "flood", []string{"LAB_BASE=" + filepath.Dir(l.Base)},
		"bash", labtest.Script(), "flood", l.Name, seconds, rate)
}

// waitFloodActive waits until the agent at base exports the lab's flood.
func waitFloodActive(t *testing.T, c *http.Client, base string) {
	t.Helper()
	waitFor(t, 60*time.Second, "the agent to report the lab's flood", func() (bool, string) {
		code, body, err := get(c, base+"/metrics")
		if err != nil {
			return false, err.Error()
		}
		if code != http.StatusOK {
			return false, fmt.Sprintf("HTTP %d", code)
		}
		if hasLine(body, floodActiveLine) {
			return true, ""
		}
		return false, "ovs_flood_active lines: " + grepLines(body, "ovs_flood_active")
	})
}

// hasLine reports whether body has line as one of its lines.
func hasLine(body, line string) bool {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if sc.Text() == line {
			return true
		}
	}
	return false
}

// grepLines returns the lines of body that start with prefix.
func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// runIn runs argv to completion inside ns with a deadline, killing its whole
// process group when the deadline passes, and returns stdout and stderr.
func runIn(ns string, timeout time.Duration, env []string, argv ...string) (string, string, error) {
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = repoRoot()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		// Helpers a program left behind in its group (Chromium's) go too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("%s: killed after %v", argv[0], timeout))
	}
	return stdout.String(), stderr.String(), err
}

// promConfig is what startPrometheus needs to know.
type promConfig struct {
	// target is the agent's host:port, scraped as job ovs-flood-exporter.
	target string
	// rules is a rule file to load, if any.
	rules string
	// alertmanager is the host:port of an Alertmanager, if any.
	alertmanager string
}

// startPrometheus runs Debian's prometheus inside ns with a fresh TSDB,
// scraping and evaluating every second, and waits until it is ready. It
// returns its base URL (reachable with nsClient(ns)).
func startPrometheus(t *testing.T, ns string, pc promConfig) string {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatalf("prometheus not installed (apt-get install prometheus; scripts/deps.sh does): %v", err)
	}
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	if pc.rules != "" {
		fmt.Fprintf(&cfg, "rule_files:\n  - %q\n", pc.rules)
	}
	if pc.alertmanager != "" {
		fmt.Fprintf(&cfg, "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [%q]\n", pc.alertmanager)
	}
	// The job name is the one the alert rules and the dashboard assume.
	fmt.Fprintf(&cfg, "scrape_configs:\n  - job_name: ovs-flood-exporter\n    static_configs:\n      - targets: [%q]\n", pc.target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, ns)
	p := startProc(t, ns, "prometheus", nil, "prometheus",
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--log.level=info")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, p, nsClient(ns, nil), url)
	return url
}

// startAlertmanager runs Debian's Alertmanager inside ns, without clustering,
// sending every alert to webhookURL after a 1s group wait. It returns its
// host:port.
func startAlertmanager(t *testing.T, ns, webhookURL string) string {
	t.Helper()
	const bin = "prometheus-alertmanager"
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s not installed (apt-get install prometheus-alertmanager; scripts/deps.sh does): %v", bin, err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: test
  group_by: [alertname, instance, bridge]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: %q
        send_resolved: true
`, webhookURL)
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, ns)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := startProc(t, ns, "alertmanager", nil, bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=info")
	waitReady(t, p, nsClient(ns, nil), "http://"+addr)
	return addr
}

// waitReady waits for GET url/-/ready to answer 200.
func waitReady(t *testing.T, p *proc, c *http.Client, url string) {
	t.Helper()
	waitFor(t, 60*time.Second, p.name+" to be ready", func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited (%v):\n%s", p.name, p.err, tail(p.output(), 40))
		}
		code, body, err := get(c, url+"/-/ready")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %s", code, body)
	})
}

// forRe matches the "for:" of a rule in the rules file's layout.
var forRe = regexp.MustCompile(`(?m)^(\s+)for:\s*\S+[ \t]*$`)

// shortenFor copies the rule file src to dir with every "for:" set to d, and
// fails unless there was exactly one "for:" per alert (a layout change the
// regexp misses must not silently keep a 10m "for:").
func shortenFor(t *testing.T, src, dir, d string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	alerts := len(regexp.MustCompile(`(?m)^\s*-\s+alert:`).FindAll(b, -1))
	fors := len(forRe.FindAll(b, -1))
	if alerts == 0 || fors != alerts {
		t.Fatalf("%s: %d alerts but %d \"for:\" lines in the expected layout", src, alerts, fors)
	}
	out := forRe.ReplaceAll(b, []byte("${1}for: "+d))
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
