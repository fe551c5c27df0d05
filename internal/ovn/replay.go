package ovn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// Exchange is one transact as captured from a live Southbound: the params
// the package sent and the result the server returned, verbatim.
type Exchange struct {
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
}

// Replay is a Reader that answers from captured Exchanges: the same selects
// a Client sends get the replies a real ovn-northd/ovsdb-server gave. A
// select that was not captured fails, naming it, so a test cannot pass on
// data it never saw. It is safe for concurrent use.
type Replay struct {
	mu      sync.Mutex
	replies map[string]json.RawMessage
	err     error
	calls   int
}

// NewReplay returns a Replay serving exchanges.
func NewReplay(exchanges []Exchange) (*Replay, error) {
	r := &Replay{replies: make(map[string]json.RawMessage, len(exchanges))}
	for _, e := range exchanges {
		key, err := compact(e.Params)
		if err != nil {
			return nil, fmt.Errorf("captured params %s: %w", short(string(e.Params)), err)
		}
		r.replies[key] = e.Result
	}
	return r, nil
}

// LoadReplay reads exchanges stored as a JSON array of {"params","result"}
// objects (see testdata/README.md).
func LoadReplay(file string) (*Replay, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var ex []Exchange
	if err := json.Unmarshal(b, &ex); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", file, err)
	}
	return NewReplay(ex)
}

func compact(b []byte) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// SetError makes every call fail with err (nil: answer again), as when the
// Southbound is unreachable.
func (r *Replay) SetError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Calls returns how many transacts were answered.
func (r *Replay) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *Replay) selectRows(ctx context.Context, ops []ovsdbrpc.Select, each func(op int, r ovsdbrpc.Row) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	params, err := ovsdbrpc.SelectParams(southbound, ops...)
	if err != nil {
		return err
	}
	key, err := compact(params)
	if err != nil {
		return err
	}
	res, ok := r.replies[key]
	if !ok {
		return fmt.Errorf("replay: no captured reply for %s", key)
	}
	r.calls++
	return ovsdbrpc.DecodeResult(res, ops, each)
}

func (r *Replay) close() error { return nil }

// Close implements Reader.
func (r *Replay) Close() error { return nil }

// Chassis implements Reader.
func (r *Replay) Chassis(ctx context.Context, name string) (Chassis, error) {
	return queryChassis(ctx, r, name)
}

// PortBindings implements Reader.
func (r *Replay) PortBindings(ctx context.Context, chassisUUID string) ([]PortBinding, error) {
	return queryPortBindings(ctx, r, cond("chassis", "==", uuidValue(chassisUUID)))
}

// UnknownPorts implements Reader.
func (r *Replay) UnknownPorts(ctx context.Context, datapathUUID string) ([]PortBinding, error) {
	return queryUnknownPorts(ctx, r, datapathUUID)
}

// LogicalFlows implements Reader.
func (r *Replay) LogicalFlows(ctx context.Context, q FlowQuery) ([]LogicalFlow, error) {
	return queryLogicalFlows(ctx, r, q)
}

// DatapathName implements Reader.
func (r *Replay) DatapathName(ctx context.Context, datapathUUID string) (string, error) {
	return queryDatapathName(ctx, r, datapathUUID)
}

var _ Reader = (*Replay)(nil)
