package openflow

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
)

// Pool keeps one Conn per bridge of an Open vSwitch run directory and dials
// again after a connection fails, for example when ovs-vswitchd restarts.
type Pool struct {
	rundir string
	opts   Options

	mu    sync.Mutex
	slots map[string]*slot
}

// slot holds one bridge's connection; its mutex is held only while
// dialing, so requests to a bridge may overlap.
type slot struct {
	mu   sync.Mutex
	conn *Conn
}

// NewPool returns a Pool for the bridges whose management sockets live in
// rundir (e.g. /var/run/openvswitch).
func NewPool(rundir string, opts Options) *Pool {
	return &Pool{rundir: rundir, opts: opts, slots: make(map[string]*slot)}
}

// SocketPath returns the management socket of bridge under the pool's run
// directory.
func (p *Pool) SocketPath(bridge string) string {
	return filepath.Join(p.rundir, bridge+".mgmt")
}

func (p *Pool) slot(bridge string) *slot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.slots[bridge]
	if s == nil {
		s = &slot{}
		p.slots[bridge] = s
	}
	return s
}

// conn returns the bridge's connection, dialing when there is none or the
// last one has ended; fresh reports a new dial.
func (p *Pool) conn(ctx context.Context, bridge string) (c *Conn, fresh bool, err error) {
	s := p.slot(bridge)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && !s.conn.broken() {
		return s.conn, false, nil
	}
	s.conn = nil
	c, err = Dial(ctx, p.SocketPath(bridge), p.opts)
	if err != nil {
		return nil, false, err
	}
	s.conn = c
	return c, true, nil
}

// drop forgets c (if it is still the bridge's connection) and closes it.
func (p *Pool) drop(bridge string, c *Conn) {
	s := p.slot(bridge)
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	c.Close()
}

// do runs f on the bridge's connection. After any failure other than an
// OpenFlow error from the switch the connection is dropped, so the next
// call dials again; when a reused connection turns out to have ended, f is
// retried once on a new one.
func (p *Pool) do(ctx context.Context, bridge string, f func(*Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, fresh, err := p.conn(ctx, bridge)
		if err != nil {
			return err
		}
		err = f(c)
		var oe *Error
		if err == nil || errors.As(err, &oe) {
			return err
		}
		p.drop(bridge, c)
		if fresh || attempt > 0 || !errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return err
		}
	}
}

// TableStats returns the table statistics of bridge.
func (p *Pool) TableStats(ctx context.Context, bridge string) ([]TableStats, error) {
	var out []TableStats
	err := p.do(ctx, bridge, func(c *Conn) (err error) {
		out, err = c.TableStats(ctx)
		return err
	})
	return out, err
}

// FlowStats returns the rules of bridge selected by filter.
func (p *Pool) FlowStats(ctx context.Context, bridge string, filter FlowFilter) ([]Flow, error) {
	var out []Flow
	err := p.do(ctx, bridge, func(c *Conn) (err error) {
		out, err = c.FlowStats(ctx, filter)
		return err
	})
	return out, err
}

// NormalRules returns the rules of bridge that output to NORMAL directly.
func (p *Pool) NormalRules(ctx context.Context, bridge string) ([]Flow, error) {
	var out []Flow
	err := p.do(ctx, bridge, func(c *Conn) (err error) {
		out, err = c.NormalRules(ctx)
		return err
	})
	return out, err
}

// Close closes every connection of the pool; it may be used again after.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.slots {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
			s.conn = nil
		}
		s.mu.Unlock()
	}
	return nil
}
