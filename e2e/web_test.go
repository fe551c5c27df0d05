package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/labtest"
)

// These tests need no OVS: the agent runs in the test's own namespace with
// --ovs.rundir pointing at an empty directory, so it serves with its OVS
// sources down, which is all the HTTP layer needs.

// TestWebConfigTLSBasicAuth serves the agent behind exporter-toolkit's TLS
// and basic auth, with a throwaway certificate and password.
func TestWebConfigTLSBasicAuth(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	dir := t.TempDir()
	certPEM := writeSelfSigned(t, dir)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("cannot use the generated certificate")
	}

	const user = "prometheus"
	pwBytes := make([]byte, 12)
	if _, err := rand.Read(pwBytes); err != nil {
		t.Fatal(err)
	}
	password := hex.EncodeToString(pwBytes)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web-config.yml")
	cfg := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), user, hash)
	if err := os.WriteFile(webConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rundir := t.TempDir()
	// The client verifies the server against the generated certificate:
	// no InsecureSkipVerify, so a wrong certificate fails the test too.
	c := nsClient("", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})

	do := func(url, user, pass string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: read body: %v", url, err)
		}
		return resp.StatusCode, string(b), resp.Header
	}

	t.Run("without pprof", func(t *testing.T) {
		a := startAgent(t, "", rundir, "--web.config.file="+webConfig)
		a.waitLog(t, tlsEnabledRe, 10*time.Second)
		base := "https://" + a.addr
		waitFor(t, 30*time.Second, "the first poll", func() (bool, string) {
			code, body, _ := do(base+"/-/ready", user, password)
			return code == http.StatusOK, fmt.Sprintf("HTTP %d %s", code, body)
		})

		code, body, _ := do(base+"/metrics", user, password)
		if code != http.StatusOK {
			t.Fatalf("right password: /metrics HTTP %d, want 200: %s", code, body)
		}
		// Concrete values: an empty run directory has no vswitchd and no
		// ovsdb-server, so both sources are down.
		for _, want := range []string{
			`ovs_flood_exporter_source_up{source="unixctl"} 0`,
			`ovs_flood_exporter_source_up{source="ovsdb"} 0`,
		} {
			if !hasLine(body, want) {
				t.Errorf("/metrics lacks %q; source lines:\n%s", want, grepLines(body, "ovs_flood_exporter_source_up"))
			}
		}

		for _, tc := range []struct {
			name, user, pass string
		}{
			{"wrong password", user, "wrong-" + password},
			{"unknown user", "admin", password},
			{"no credentials", "", ""},
		} {
			for _, path := range []string{"/metrics", "/", "/api/report"} {
				code, _, hdr := do(base+path, tc.user, tc.pass)
				if code != http.StatusUnauthorized {
					t.Errorf("%s: %s HTTP %d, want 401", tc.name, path, code)
				}
				if tc.user == "" && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s: %s WWW-Authenticate = %q, want a Basic challenge", tc.name, path, hdr.Get("WWW-Authenticate"))
				}
			}
		}

		// Plain HTTP on the TLS port is refused, not served.
		code, _, err := get(nsClient("", nil), "http://"+a.addr+"/metrics")
		if err == nil && code != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS listener: HTTP %d, want 400 or a failure", code)
		}

		if code, _, _ := do(base+"/debug/pprof/", user, password); code != http.StatusNotFound {
			t.Errorf("/debug/pprof/ without --web.enable-pprof: HTTP %d, want 404", code)
		}
	})

	t.Run("with pprof", func(t *testing.T) {
		a := startAgent(t, "", rundir, "--web.config.file="+webConfig, "--web.enable-pprof")
		base := "https://" + a.addr
		code, body, _ := do(base+"/debug/pprof/", user, password)
		if code != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("/debug/pprof/ with --web.enable-pprof: HTTP %d, want 200 with a goroutine profile link:\n%.300s", code, body)
		}
		// Profiles sit behind the same authentication.
		if code, _, _ := do(base+"/debug/pprof/", "", ""); code != http.StatusUnauthorized {
			t.Errorf("/debug/pprof/ without credentials: HTTP %d, want 401", code)
		}
	})
}

// tlsEnabledRe matches exporter-toolkit's log line when it serves TLS.
var tlsEnabledRe = regexp.MustCompile(`TLS is enabled`)

// writeSelfSigned writes tls.crt and tls.key for 127.0.0.1 into dir and
// returns the certificate in PEM.
func writeSelfSigned(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "ovs-flood-exporter e2e"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

// TestConcurrentScrapesBounded checks --web.max-requests: with a limit of
// one scrape in flight, a burst of simultaneous scrapes gets some 503s, and
// every request is answered promptly.
func TestConcurrentScrapesBounded(t *testing.T) {
	labtest.SkipShort(t)
	start := time.Now()
	defer func() { t.Logf("runtime %v", time.Since(start).Round(100*time.Millisecond)) }()
	a := startAgent(t, "", t.TempDir(), "--web.max-requests=1")
	base := "http://" + a.addr
	c := nsClient("", nil)
	waitFor(t, 30*time.Second, "the first poll", func() (bool, string) {
		code, body, err := get(c, base+"/-/ready")
		return err == nil && code == http.StatusOK, fmt.Sprintf("HTTP %d %v %s", code, err, body)
	})

	const burst = 20
	// Whether 20 requests overlap is up to the scheduler, so bursts are
	// repeated (at most 10) until one has collided; one always has here.
	counts := map[string]int{}
	for round := 0; round < 10 && counts["503"] == 0; round++ {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			ready = make(chan struct{})
		)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		began := time.Now()
		for i := 0; i < burst; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				code, _, err := get(client, base+"/metrics")
				key := fmt.Sprint(code)
				if err != nil {
					key = "error: " + err.Error()
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}()
		}
		close(ready)
		wg.Wait()
		if d := time.Since(began); d > 10*time.Second {
			t.Fatalf("a burst of %d scrapes took %v", burst, d)
		}
	}
	var keys []string
	for k, n := range counts {
		keys = append(keys, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(keys)
	t.Logf("responses: %s", strings.Join(keys, ", "))
	for k := range counts {
		if k != "200" && k != "503" {
			t.Errorf("unexpected response %q (want only 200 and 503)", k)
		}
	}
	if counts["503"] == 0 {
		t.Errorf("no scrape was refused with 503 at --web.max-requests=1")
	}
	if counts["200"] == 0 {
		t.Errorf("no scrape succeeded")
	}
	// The limit is released: a lone scrape afterwards succeeds.
	if code, body, err := get(c, base+"/metrics"); err != nil || code != http.StatusOK || !strings.Contains(body, "ovs_flood_exporter_source_up") {
		t.Errorf("scrape after the burst: HTTP %d %v", code, err)
	}
}
