package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// imageMaxSize is the image size target (unpacked, as podman images
// shows it); imageMaxCompressed bounds it as a registry stores and pulls it
// (the gzip-compressed layer), so growth shows up in either.
const (
	imageMaxSize       = 25_000_000
	imageMaxCompressed = 10_000_000
)

// podman runs the podman CLI with this host's workarounds (see newPodman).
type podman struct {
	conf string // CONTAINERS_CONF
}

// newPodman checks that podman and runc are installed and writes a private
// containers.conf: some hosts cannot raise podman's default ulimits or use
// systemd cgroups, and runc works where crun refuses hybrid cgroups.
func newPodman(t *testing.T) *podman {
	t.Helper()
	var missing []string
	for _, b := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("container test needs %s (apt-get install podman buildah runc)", strings.Join(missing, ", "))
		if labtest.Required() {
			t.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
		}
		t.Skip(msg)
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\nlog_driver = \"k8s-file\"\n[engine]\ncgroup_manager = \"cgroupfs\"\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return &podman{conf: conf}
}

// run runs podman --runtime runc ARGS and returns its stdout.
func (p *podman) run(args ...string) (string, error) {
	stdout, stderr, err := runIn("", 5*time.Minute, []string{"CONTAINERS_CONF=" + p.conf},
		append([]string{"podman", "--runtime", "runc"}, args...)...)
	if err != nil {
		return stdout, fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, nil
}

// logs returns what the container wrote; podman logs replays the
// container's stderr (where the agent logs) on its own stderr.
func (p *podman) logs(name string) (string, error) {
	stdout, stderr, err := runIn("", time.Minute, []string{"CONTAINERS_CONF=" + p.conf},
		"podman", "--runtime", "runc", "logs", name)
	return stdout + stderr, err
}

func (p *podman) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// documentedRun returns the run command of the Dockerfile's header, the
// one deployment the image documents, as words.
func documentedRun(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		text := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(text, "Run ("):
			in = true
		case in && text == "":
			in = false
		case in:
			cmd += " " + strings.TrimSuffix(text, "\\")
		}
	}
	words := strings.Fields(cmd)
	if len(words) < 3 || words[0] != "podman" || words[1] != "run" {
		t.Fatalf("no podman run command under the Dockerfile's \"Run (\" heading: %q", cmd)
	}
	return words
}

// readmeShowsRun checks that the README's container section shows the
// documented command word for word, so what users copy is what is tested.
func readmeShowsRun(t *testing.T, words []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\\\n", " ")), " ")
	if !strings.Contains(readme, strings.Join(words, " ")) {
		t.Errorf("README.md does not show the Dockerfile's run command %q", strings.Join(words, " "))
	}
}

// replaceArg replaces the value of flag (the word after it) in words, and
// fails if the flag is not there with the value want.
func replaceArg(t *testing.T, words []string, flag, want, value string) {
	t.Helper()
	for i := 0; i+1 < len(words); i++ {
		if words[i] == flag && words[i+1] == want {
			words[i+1] = value
			return
		}
	}
	t.Fatalf("the documented command has no %s %s: %q", flag, want, words)
}

// containerRun turns the documented command into the one the test runs:
// the lab's namespace stands in for the host network, its rundir for
// /run/openvswitch, the test's image and name for the documented ones;
// extra flags go to the agent.
func containerRun(t *testing.T, l *labtest.Lab, name, image string, extra ...string) []string {
	t.Helper()
	words := documentedRun(t)
	for _, hard := range []string{"--read-only", "--cap-drop ALL", "--security-opt no-new-privileges"} {
		if !strings.Contains(" "+strings.Join(words, " ")+" ", " "+hard+" ") {
			t.Fatalf("the documented command lacks %s: %q", hard, words)
		}
	}
	replaceArg(t, words, "--name", "ovs-flood-exporter", name)
	replaceArg(t, words, "--network", "host", "ns:/run/netns/"+l.Name)
	replaceArg(t, words, "-v", "/run/openvswitch:/run/openvswitch:ro", l.RunDir+":/run/openvswitch:ro")
	img := -1
	for i, w := range words {
		if strings.HasPrefix(w, "localhost/ovs-flood-exporter:") {
			img = i
		}
	}
	if img < 0 {
		t.Fatalf("no localhost/ovs-flood-exporter image in the documented command: %q", words)
	}
	words[img] = image
	return append(words[1:], extra...) // without "podman"
}

// startContainer runs args (from containerRun) and removes the container
// when the test ends, logging its output first.
func startContainer(t *testing.T, p *podman, name string, args []string) {
	t.Helper()
	_, _ = p.run("rm", "-f", name)
	p.must(t, args...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := p.logs(name)
			t.Logf("podman logs %s:\n%s", name, tail(logs, 40))
		}
		_, _ = p.run("rm", "-f", "-t", "2", name)
	})
}

// metric returns the value of the sample whose name and labels are
// exactly series in a text exposition, and whether it is there.
func metric(body, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}

// sourcesUp reports which of the four sources are up in body.
func sourcesUp(body string) map[string]bool {
	up := map[string]bool{}
	for _, s := range []string{"unixctl", "ovsdb", "openflow", "netlink"} {
		v, ok := metric(body, `ovs_flood_exporter_source_up{source="`+s+`"}`)
		up[s] = ok && v == 1
	}
	return up
}

// TestContainer runs the image as the Dockerfile documents it (read-only
// root, no capabilities, no new privileges, the rundir mounted read-only),
// in a seed-000 lab's namespace in place of the host network, and checks
// the flood, every source, the victims' leak ratio and recovery from an
// OVS restart; then that the image holds nothing but the agent.
func TestContainer(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	readmeShowsRun(t, documentedRun(t))
	p := newPodman(t)
	l := labtest.Up(t, "ct1")
	image := fmt.Sprintf("localhost/ovs-flood-exporter:e2e-%d", os.Getpid())
	buildImage(t, p, image)

	name := l.Name + "-exporter"
	startContainer(t, p, name, containerRun(t, l, name, image, "--poll.interval=1s"))
	c := nsClient(l.Name, nil)
	base := "http://127.0.0.1:9742"

	startFlood(t, l, "120", "10M")
	waitFloodActive(t, c, base)
	waitFor(t, 30*time.Second, "all four sources up and the victims' leak ratio near 1", func() (bool, string) {
		_, body, err := get(c, base+"/metrics")
		if err != nil {
			return false, err.Error()
		}
		return floodHealthy(body)
	})

	// OVS restarts under the running container (the flows are gone with
	// vswitchd, and put back as a Neutron agent would): the sockets are
	// re-created in the mounted directory and the agent reconnects.
	l.MustRun("restart")
	l.MustRun("flows")
	restarted := time.Now()
	waitFor(t, 60*time.Second, "recovery after the OVS restart", func() (bool, string) {
		_, body, err := get(c, base+"/metrics")
		if err != nil {
			return false, err.Error()
		}
		ts, _ := metric(body, "ovs_flood_exporter_last_poll_timestamp_seconds")
		if ts < float64(restarted.Unix()+1) {
			return false, "no poll since the restart"
		}
		if !hasLine(body, floodActiveLine) {
			return false, "flood not active again: " + grepLines(body, "ovs_flood_active")
		}
		return floodHealthy(body)
	})
	t.Logf("recovered %v after the restart", time.Since(restarted).Round(100*time.Millisecond))

	t.Run("bad input", func(t *testing.T) { containerBadInput(t, p, l, image) })
	t.Run("image hygiene", func(t *testing.T) { imageHygiene(t, p, image) })
}

// floodHealthy says whether body has every source up and the lab's two
// VLAN-10 victims with a leak ratio near 1 (all they receive is flood).
func floodHealthy(body string) (bool, string) {
	for s, up := range sourcesUp(body) {
		if !up {
			return false, "source down: " + s + "\n" + grepLines(body, "ovs_flood_exporter_source_up")
		}
	}
	for _, v := range []string{"tapvm2", "tapvm3"} {
		r, ok := metric(body, `ovs_flood_leak_ratio{bridge="br-int",port="`+v+`"}`)
		if !ok || r < 0.9 || r > 1.05 {
			return false, "leak ratio: " + grepLines(body, "ovs_flood_leak_ratio")
		}
	}
	return true, ""
}

// buildImage runs "make image" (scripts/image.sh) for image and removes the
// image when the test ends.
func buildImage(t *testing.T, p *podman, image string) {
	t.Helper()
	stdout, stderr, err := runIn("", 10*time.Minute,
		[]string{"IMAGE=" + image, "CONTAINERS_CONF=" + p.conf, "PATH=" + filepath.Dir(goTool()) + ":" + os.Getenv("PATH")},
		"make", "--no-print-directory", "-C", repoRoot(), "image")
	if err != nil {
		t.Fatalf("make image: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("make image: %s", strings.TrimSpace(tail(stdout, 1)))
	t.Cleanup(func() { _, _ = p.run("rmi", "-f", image) })
}

// containerBadInput runs the image with what an operator gets wrong, and
// checks that /metrics keeps serving with the failing source down and a
// log line naming the mount or the capability to fix.
func containerBadInput(t *testing.T, p *podman, l *labtest.Lab, image string) {
	empty := t.TempDir()
	tests := []struct {
		name  string
		args  func([]string) []string
		extra []string
		down  []string // sources that must be down
		up    []string // sources that must stay up
		log   []*regexp.Regexp
		once  bool // the log line must not repeat on later polls
	}{
		{
			name: "rundir without sockets",
			args: func(w []string) []string {
				return replaceWord(w, l.RunDir+":/run/openvswitch:ro", empty+":/run/openvswitch:ro")
			},
			down: []string{"unixctl", "ovsdb"},
			up:   []string{"netlink"},
			log:  []*regexp.Regexp{regexp.MustCompile(`/run/openvswitch/[^ "]*(db\.sock|\.pid|\.ctl)`)},
		},
		{
			name: "sockets owned by another user",
			args: func(w []string) []string { return insertAfter(w, "run", "--user", "65534:65534") },
			down: []string{"unixctl", "ovsdb"},
			up:   []string{"netlink"},
			log:  []*regexp.Regexp{regexp.MustCompile(`(?i)permission denied`)},
		},
		{
			name:  "netns walk without /run/netns",
			args:  func(w []string) []string { return w },
			extra: []string{"--netns.walk"},
			up:    []string{"unixctl", "ovsdb", "openflow", "netlink"},
			log:   []*regexp.Regexp{regexp.MustCompile(`/run/netns does not exist.*-v /run/netns:/run/netns:ro,rslave`)},
			once:  true,
		},
		{
			name:  "netns walk without CAP_SYS_ADMIN",
			args:  func(w []string) []string { return insertAfter(w, "run", "-v", "/run/netns:/run/netns:ro") },
			extra: []string{"--netns.walk"},
			up:    []string{"unixctl", "ovsdb", "openflow", "netlink"},
			log:   []*regexp.Regexp{regexp.MustCompile(`--netns.walk needs CAP_SYS_ADMIN`)},
			once:  true,
		},
	}
	c := nsClient(l.Name, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-bad%d", l.Name, i)
			port := 9750 + i
			extra := append([]string{"--poll.interval=1s", fmt.Sprintf("--web.listen-address=:%d", port)}, tt.extra...)
			startContainer(t, p, name, tt.args(containerRun(t, l, name, image, extra...)))
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			waitFor(t, 30*time.Second, "the failing sources down, the others up", func() (bool, string) {
				code, body, err := get(c, base+"/metrics")
				if err != nil || code != http.StatusOK {
					return false, fmt.Sprintf("HTTP %d %v", code, err)
				}
				up := sourcesUp(body)
				for _, s := range tt.down {
					if up[s] {
						return false, s + " up"
					}
				}
				for _, s := range tt.up {
					if !up[s] {
						return false, s + " down"
					}
				}
				return true, ""
			})
			waitFor(t, 15*time.Second, "a log line naming the fix", func() (bool, string) {
				logs, err := p.logs(name)
				if err != nil {
					return false, err.Error()
				}
				for _, re := range tt.log {
					if !re.MatchString(logs) {
						return false, fmt.Sprintf("no %v in:\n%s", re, tail(logs, 10))
					}
				}
				return true, ""
			})
			if tt.once {
				time.Sleep(3 * time.Second) // three more polls
			}
			logs, _ := p.logs(name)
			for _, re := range tt.log {
				t.Logf("log: %s", firstLineMatching(logs, re))
				if n := len(re.FindAllString(logs, -1)); tt.once && n != 1 {
					t.Errorf("%v logged %d times, want once:\n%s", re, n, tail(logs, 10))
				}
			}
		})
	}
}

func firstLineMatching(s string, re *regexp.Regexp) string {
	for _, line := range strings.Split(s, "\n") {
		if re.MatchString(line) {
			return line
		}
	}
	return ""
}

func replaceWord(words []string, old, new string) []string {
	out := append([]string(nil), words...)
	for i, w := range out {
		if w == old {
			out[i] = new
		}
	}
	return out
}

func insertAfter(words []string, after string, add ...string) []string {
	for i, w := range words {
		if w == after {
			out := append(append(append([]string(nil), words[:i+1]...), add...), words[i+1:]...)
			return out
		}
	}
	return words
}

// imageHygiene checks the image's filesystem and metadata: the agent
// alone (no shell, package manager or OVS tool), its size, and the OCI
// labels from the build.
func imageHygiene(t *testing.T, p *podman, image string) {
	root := strings.TrimSpace(p.must(t, "image", "mount", image))
	t.Cleanup(func() { _, _ = p.run("image", "unmount", image) })
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, strings.TrimPrefix(path, root))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image files: %v", files)
	forbidden := regexp.MustCompile(`(^|/)(sh|bash|dash|ash|busybox|apt|apt-get|dpkg|apk|rpm|yum|dnf|ovs-[a-z-]+|ovsdb-[a-z-]+)$`)
	for _, f := range files {
		if forbidden.MatchString(f) && f != "/bin/ovs-flood-exporter" {
			t.Errorf("the image holds %s", f)
		}
	}
	if len(files) != 1 || files[0] != "/bin/ovs-flood-exporter" {
		t.Errorf("image files %v, want only /bin/ovs-flood-exporter", files)
	}

	var infos []struct {
		Size   int64
		Labels map[string]string
	}
	out := p.must(t, "image", "inspect", image)
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	info := infos[0]
	compressed := gzipSize(t, filepath.Join(root, "bin", "ovs-flood-exporter"))
	t.Logf("image size %.1f MB, %.1f MB compressed", float64(info.Size)/1e6, float64(compressed)/1e6)
	if compressed > imageMaxCompressed || info.Size > imageMaxSize {
		t.Errorf("image size %d bytes (%d compressed), want at most %d (%d compressed)", info.Size, compressed, imageMaxSize, imageMaxCompressed)
	}
	want := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/ovs-flood-exporter/ovs-flood-exporter",
		"org.opencontainers.image.version":  gitOut(t, "describe", "--tags", "--always", "--dirty"),
		"org.opencontainers.image.revision": gitOut(t, "rev-parse", "HEAD"),
	}
	for k, v := range want {
		if info.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, info.Labels[k], v)
		}
	}
}

// gzipSize is the size of path gzip-compressed, as a registry stores it.
func gzipSize(t *testing.T, path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n countWriter
	zw := gzip.NewWriter(&n)
	if _, err := io.Copy(zw, f); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) { *c += countWriter(len(b)); return len(b), nil }

func gitOut(t *testing.T, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = repoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
