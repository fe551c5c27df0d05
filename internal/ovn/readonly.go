package ovn

import (
	"context"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// This file holds the package's only way to read the Southbound. The
// Southbound is shared by every ovn-controller of the cloud and by
// ovn-northd; a monitoring agent must not be able to change it even through
// a bug, and the socket it holds is writable. ovsdbrpc can send only
// get_schema, list_dbs, a transact of selects naming their columns, and
// echo replies; Client.selectRows is the only caller of its Select here
// (TestReadOnlySource), and TestReadOnlyWire checks every message a Client
// sends against a live Southbound.

// southbound is the database this package reads.
const southbound = "OVN_Southbound"

// uuidValue is the OVSDB encoding of a UUID in a where clause.
func uuidValue(u string) any { return ovsdbrpc.UUIDValue(u) }

// cond builds a where clause element: ["pipeline","==","ingress"].
func cond(column, function string, value any) ovsdbrpc.Condition {
	return ovsdbrpc.Condition{Column: column, Function: function, Value: value}
}

// selectRows implements caller: one transaction on a working session.
func (c *Client) selectRows(ctx context.Context, ops []ovsdbrpc.Select, each func(op int, r ovsdbrpc.Row) error) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, err := c.session(ctx)
	if err != nil {
		return err
	}
	return c.explain(ctx, conn, conn.Select(ctx, southbound, ops, each))
}
