package ovsdb

import (
	"context"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// This file is the package's only way to send a transaction. The agent
// shares ovsdb-server with Neutron, Nova and ovs-vswitchd itself; a
// monitoring tool must not be able to change the switch even through a
// bug, and the socket it holds is writable. ovsdbrpc can only send
// selects (and list_dbs, get_schema, echo replies); selectRows is the only
// caller of its Select in this package (TestReadOnlySource checks that,
// and TestReadOnlyWire checks every op on the wire).

// selectRows runs ops as one transaction on database db, calling each
// with every row in op order.
func (s *session) selectRows(ctx context.Context, db string, ops []ovsdbrpc.Select, each func(op int, r ovsdbrpc.Row) error) error {
	return s.conn.Select(ctx, db, ops, each)
}
