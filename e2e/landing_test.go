package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// landingCopy is where the screenshot is also left for people to look at.
const landingCopy = "/tmp/ovs-flood-landing.png"

// TestLandingPageInChromium renders the landing page in a real browser
// during the lab's flood and checks what a person would read on it.
func TestLandingPageInChromium(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		msg := "chromium not installed (apt-get install chromium; scripts/deps.sh with WITH_BROWSER=1)"
		if labtest.Required() {
			t.Fatal(msg + "; OVS_FLOOD_LAB=require forbids skipping")
		}
		t.Skip(msg)
	}
	agentBinary(t) // build first: a broken build fails before the lab starts
	l := labtest.Up(t, "op3")
	ns := l.Name
	c := nsClient(ns, nil)

	a := startAgent(t, ns, l.RunDir)
	startFlood(t, l, "120", "10M")
	base := "http://" + a.addr
	waitFloodActive(t, c, base)
	// The page shows the report; wait until the report names both victims
	// so that the browser is asked only once the agent knows the answer.
	waitFor(t, 30*time.Second, "the report to list victims tapvm2 and tapvm3", func() (bool, string) {
		return reportVictims(c, base+"/api/report", "tapvm2", "tapvm3")
	})

	profile := t.TempDir()
	browser := func(args ...string) (string, string) {
		t.Helper()
		argv := append([]string{chromium,
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage", "--user-data-dir=" + profile}, args...)
		argv = append(argv, base+"/")
		stdout, stderr, err := runIn(ns, 90*time.Second, []string{"HOME=" + profile}, argv...)
		if err != nil {
			t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, tail(stderr, 30))
		}
		return stdout, stderr
	}

	t.Run("dom", func(t *testing.T) {
		dom, _ := browser("--dump-dom")
		domFile := filepath.Join(t.ArtifactDir(), "landing.html")
		if err := os.WriteFile(domFile, []byte(dom), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("DOM (%d bytes) saved as %s", len(dom), domFile)
		doc, err := html.Parse(strings.NewReader(dom))
		if err != nil {
			t.Fatalf("parse the DOM: %v", err)
		}
		if s := byID(doc, "status"); s == nil || !strings.Contains(text(s), "flooding") {
			t.Errorf("#status = %q, want it to say flooding", text(s))
		}
		if byID(doc, "no-floods") != nil {
			t.Errorf("#no-floods is shown during a flood")
		}
		floods := byID(doc, "floods")
		if floods == nil {
			t.Fatalf("no #floods in the DOM:\n%s", dom)
		}
		rows := findAll(floods, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "flood") })
		if len(rows) != 1 {
			t.Fatalf("#floods has %d tr.flood rows, want 1:\n%s", len(rows), render(floods))
		}
		row := rows[0]
		inPort := findAll(row, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "in-port") })
		if len(inPort) != 1 || !strings.HasPrefix(text(inPort[0]), floodInPort) {
			t.Errorf("td.in-port = %q, want it to start with %s", texts(inPort), floodInPort)
		}
		if len(inPort) == 1 && !strings.Contains(text(inPort[0]), "VM 00000000-0000-4000-8000-000000000001") {
			t.Errorf("td.in-port = %q does not name vm1's VM", text(inPort[0]))
		}
		victims := findAll(row, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "victims") })
		if len(victims) != 1 {
			t.Fatalf("%d td.victims in the flood row, want 1", len(victims))
		}
		var ports []string
		for _, s := range findAll(victims[0], func(n *html.Node) bool { return n.Data == "span" && hasClass(n, "victim") }) {
			ports = append(ports, strings.Fields(text(s))[0])
		}
		sort.Strings(ports)
		if got := strings.Join(ports, ","); got != "tapvm2,tapvm3" {
			t.Errorf("span.victim ports = %s, want tapvm2,tapvm3 (td.victims %q)", got, text(victims[0]))
		}
		for _, other := range []string{"tapvm4", "tapvm5"} {
			if strings.Contains(text(floods), other) {
				t.Errorf("#floods mentions %s, which is on another VLAN", other)
			}
		}
		if !strings.Contains(text(row), floodDstMAC) {
			t.Errorf("flood row lacks the destination %s: %q", floodDstMAC, text(row))
		}
		if s := byID(doc, "sources"); s == nil || strings.Contains(text(s), "down") {
			t.Errorf("#sources = %q, want every source up", text(s))
		}
		if byID(doc, "fdb") == nil {
			t.Errorf("no #fdb in the DOM")
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		// ArtifactDir is kept with "go test -artifacts"; the copy in /tmp
		// is kept in any case.
		shot := filepath.Join(t.ArtifactDir(), "landing.png")
		browser("--screenshot="+shot, "--window-size=1400,900")
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if sz := img.Bounds().Size(); sz.X != 1400 || sz.Y != 900 {
			t.Errorf("screenshot is %v, want 1400x900", sz)
		}
		// A blank or error page has a handful of colours; the landing
		// page has text, a red status badge and table borders.
		if n := colours(img, 1000); n < 50 {
			t.Errorf("screenshot has only %d colours: blank page?", n)
		}
		if !hasReddish(img) {
			t.Errorf("screenshot has no red pixels: the flooding status badge is not shown")
		}
		if len(b) < 20_000 {
			t.Errorf("screenshot is only %d bytes", len(b))
		}
		if err := os.WriteFile(landingCopy, b, 0o644); err != nil {
			t.Errorf("copy the screenshot: %v", err)
		}
		t.Logf("screenshot %s (%d bytes), copied to %s", shot, len(b), landingCopy)
	})
}

// reportVictims reports whether /api/report lists a flood from tapvm1 whose
// victims include every port of want.
func reportVictims(c *http.Client, url string, want ...string) (bool, string) {
	code, body, err := get(c, url)
	if err != nil || code != http.StatusOK {
		return false, fmt.Sprintf("HTTP %d %v", code, err)
	}
	var r struct {
		Floods []struct {
			InPort  struct{ Port string } `json:"in_port"`
			Victims []struct{ Port string }
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return false, err.Error()
	}
	for _, f := range r.Floods {
		if f.InPort.Port != floodInPort {
			continue
		}
		got := map[string]bool{}
		for _, v := range f.Victims {
			got[v.Port] = true
		}
		for _, w := range want {
			if !got[w] {
				return false, body
			}
		}
		return true, ""
	}
	return false, body
}

// findAll returns the element nodes under n (n included) that match.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func byID(doc *html.Node, id string) *html.Node {
	if m := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == id }); len(m) > 0 {
		return m[0]
	}
	return nil
}

// text is the text content of n with <br> as a space.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.Data == "br":
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func texts(ns []*html.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, text(n))
	}
	return out
}

func render(n *html.Node) string {
	var b bytes.Buffer
	_ = html.Render(&b, n)
	return b.String()
}

// colours counts distinct colours in img, stopping at limit.
func colours(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			seen[[4]uint32{cr, cg, cb, ca}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// hasReddish reports whether img has a block of saturated red pixels, like
// the landing page's "flooding" status badge.
func hasReddish(img image.Image) bool {
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 > 150 && cg>>8 < 60 && cb>>8 < 80 {
				n++
			}
		}
	}
	return n > 200
}
