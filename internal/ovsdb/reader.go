package ovsdb

import "context"

// Reader is what the agent needs from OVSDB; Client implements it against
// ovsdb-server, and ovsdbtest.Fake from a fixed Topology for tests.
type Reader interface {
	// Topology reads bridges, ports and interfaces.
	Topology(ctx context.Context) (Topology, error)
	// CurCfg reads the applied-configuration sequence number, cheaply.
	CurCfg(ctx context.Context) (int64, error)
	// Close releases the connection.
	Close() error
}

var _ Reader = (*Client)(nil)
