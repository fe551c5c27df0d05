// Package ovstest holds a fake ovs-vswitchd for tests: it answers
// unixctl commands from canned reply text (captured real output), so code
// that reads vswitchd is tested against what OVS really prints. The release
// binary does not import it.
package ovstest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovs"
)

// Fake is an ovs.Vswitchd (and an ovs.Caller) that answers from canned reply text,
// for tests that feed captured OVS output to code that reads vswitchd.
//
// Replies and Errs are keyed by the command line as ovs-appctl would take
// it: the method and its parameters joined by spaces, e.g.
// "fdb/show br-int" or "dpctl/dump-flows --names netdev@ovs-netdev". Fill them
// before use, or use SetReply and SetErr while calls may be running.
type Fake struct {
	mu      sync.Mutex
	Replies map[string]string
	Errs    map[string]error
	// Calls records every command received, in order.
	Calls []string

	readBuf []byte // CallFunc's buffer, reused

	parser     ovs.Vswitchd // one, so that it reuses parses as the real one does
	parserOnce sync.Once
}

var (
	_ ovs.Vswitchd   = (*Fake)(nil)
	_ ovs.FuncCaller = (*Fake)(nil)
)

// NewFake returns a Fake with no replies.
func NewFake() *Fake {
	return &Fake{Replies: map[string]string{}, Errs: map[string]error{}}
}

// SetReply sets the reply to the command line key.
func (f *Fake) SetReply(key, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Replies == nil {
		f.Replies = map[string]string{}
	}
	f.Replies[key] = text
}

// SetErr makes the command line key fail with err.
func (f *Fake) SetErr(key string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Errs == nil {
		f.Errs = map[string]error{}
	}
	f.Errs[key] = err
}

// LoadFile sets the reply to the command line key to the content of the
// file at path (e.g. a capture in testdata/ovs-3.1).
func (f *Fake) LoadFile(key, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f.SetReply(key, string(b))
	return nil
}

// Call implements Caller: it returns the error or reply set for the
// command line, and an error if there is neither.
func (f *Fake) Call(ctx context.Context, method string, params ...string) (string, error) {
	key := strings.Join(append([]string{method}, params...), " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, key)
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err, ok := f.Errs[key]; ok {
		return "", err
	}
	if r, ok := f.Replies[key]; ok {
		return r, nil
	}
	return "", fmt.Errorf("fake vswitchd: no reply for %q", key)
}

// CallFunc implements ovs.FuncCaller the way the real client does: fn
// sees the reply in a buffer the fake reuses. Once fn returns, the buffer
// is overwritten with '#', so a caller that keeps a view of the text past
// fn finds garbage in its tests instead of a bug in production.
func (f *Fake) CallFunc(ctx context.Context, fn func(text []byte) error, method string, params ...string) error {
	out, err := f.Call(ctx, method, params...)
	if err != nil {
		return err
	}
	f.mu.Lock()
	buf := append(f.readBuf[:0], out...)
	f.readBuf = nil // a nested call gets a buffer of its own
	f.mu.Unlock()
	defer func() {
		for i := range buf {
			buf[i] = '#'
		}
		f.mu.Lock()
		f.readBuf = buf
		f.mu.Unlock()
	}()
	return fn(buf)
}

// v parses the canned replies the way the real Vswitchd does.
func (f *Fake) v() ovs.Vswitchd {
	f.parserOnce.Do(func() { f.parser = ovs.NewVswitchd(f) })
	return f.parser
}

// Version implements ovs.Vswitchd.
func (f *Fake) Version(ctx context.Context) (string, error) { return f.v().Version(ctx) }

// DatapathShow implements ovs.Vswitchd.
func (f *Fake) DatapathShow(ctx context.Context, dp string) (ovs.DatapathStats, error) {
	return f.v().DatapathShow(ctx, dp)
}

// DpifShow implements ovs.Vswitchd.
func (f *Fake) DpifShow(ctx context.Context) ([]ovs.Datapath, error) { return f.v().DpifShow(ctx) }

// FDBShow implements ovs.Vswitchd.
func (f *Fake) FDBShow(ctx context.Context, bridge string) (ovs.FDBTable, error) {
	return f.v().FDBShow(ctx, bridge)
}

// FDBStats implements ovs.Vswitchd.
func (f *Fake) FDBStats(ctx context.Context, bridge string) (ovs.FDBStats, error) {
	return f.v().FDBStats(ctx, bridge)
}

// DumpFlows implements ovs.Vswitchd.
func (f *Fake) DumpFlows(ctx context.Context, dp string) (ovs.Megaflows, error) {
	return f.v().DumpFlows(ctx, dp)
}

// VisitFlows implements ovs.Vswitchd.
func (f *Fake) VisitFlows(ctx context.Context, dp, filter string, opts ovs.FlowParseOptions, fn func(*ovs.Megaflows) error) error {
	return f.v().VisitFlows(ctx, dp, filter, opts, fn)
}

// Trace implements ovs.Vswitchd.
func (f *Fake) Trace(ctx context.Context, bridge, flow string) (ovs.Trace, error) {
	return f.v().Trace(ctx, bridge, flow)
}

// fakeDirFiles maps the command lines NewFakeFromDir answers to capture
// file names.
var fakeDirFiles = map[string]string{
	"version":                         "version.txt",
	"dpctl/show -s netdev@ovs-netdev": "dpctl-show.txt",
	"dpif/show":                       "dpif-show.txt",
	"fdb/show br-int":                 "fdb-show.txt",
	"fdb/stats-show br-int":           "fdb-stats-show.txt",
	"dpctl/dump-flows --names netdev@ovs-netdev": "dpctl-dump-flows-m.seed000-flood.txt",
}

// NewFakeFromDir returns a Fake answering from the captures in dir
// (internal/ovs/testdata/ovs-3.1): the lab's br-int on
// netdev@ovs-netdev during the seed-000 flood, where vm1's traffic to the
// never-learned external MAC is flooded to every VLAN 10 port.
func NewFakeFromDir(dir string) (*Fake, error) {
	f := NewFake()
	for key, name := range fakeDirFiles {
		if err := f.LoadFile(key, filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	return f, nil
}
