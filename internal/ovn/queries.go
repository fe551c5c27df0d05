package ovn

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/ovsdbrpc"
)

// The Reader methods, written once over a caller so that Client and Replay
// send the very same selects.

func queryChassis(ctx context.Context, c caller, name string) (Chassis, error) {
	rows, err := selectRows(ctx, c, ovsdbrpc.Select{Table: "Chassis", Columns: chassisColumns,
		Where: []ovsdbrpc.Condition{cond("name", "==", name)}})
	if err != nil {
		return Chassis{}, err
	}
	if len(rows[0]) == 0 {
		return Chassis{}, fmt.Errorf("no Chassis named %q in the OVN Southbound: is ovn-controller running here with external_ids:system-id=%s? %w",
			name, name, ErrNotFound)
	}
	return decodeChassis(rows[0][0])
}

func queryPortBindings(ctx context.Context, c caller, where ...ovsdbrpc.Condition) ([]PortBinding, error) {
	rows, err := selectRows(ctx, c, ovsdbrpc.Select{Table: "Port_Binding", Columns: portBindingColumns, Where: where})
	if err != nil {
		return nil, err
	}
	out := make([]PortBinding, 0, len(rows[0]))
	for _, r := range rows[0] {
		p, err := decodePortBinding(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PortBinding) int { return strings.Compare(a.LogicalPort, b.LogicalPort) })
	return out, nil
}

func queryUnknownPorts(ctx context.Context, c caller, datapath string) ([]PortBinding, error) {
	// "includes" on the mac set: the rows whose set has the element "unknown".
	return queryPortBindings(ctx, c, cond("datapath", "==", uuidValue(datapath)),
		cond("mac", "includes", []any{"set", []any{"unknown"}}))
}

func queryLogicalFlows(ctx context.Context, c caller, q FlowQuery) ([]LogicalFlow, error) {
	if q.Pipeline != "ingress" && q.Pipeline != "egress" {
		return nil, fmt.Errorf("logical flow lookup for cookie %#x: pipeline %q, want ingress or egress", q.Cookie, q.Pipeline)
	}
	where := []ovsdbrpc.Condition{cond("pipeline", "==", q.Pipeline)}
	if q.TableID >= 0 {
		where = append(where, cond("table_id", "==", q.TableID))
	}
	if q.Datapath != "" {
		where = append(where, cond("logical_datapath", "==", uuidValue(q.Datapath)))
	}
	rows, err := selectRows(ctx, c, ovsdbrpc.Select{Table: "Logical_Flow", Columns: logicalFlowColumns, Where: where})
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("%08x-", q.Cookie)
	var out []LogicalFlow
	for _, r := range rows[0] {
		u, err := atomUUID(r["_uuid"])
		if err != nil || !strings.HasPrefix(u, prefix) {
			continue // decode only the flows asked for
		}
		f, err := decodeLogicalFlow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func queryDatapathName(ctx context.Context, c caller, datapath string) (string, error) {
	rows, err := selectRows(ctx, c, ovsdbrpc.Select{Table: "Datapath_Binding", Columns: datapathColumns,
		Where: []ovsdbrpc.Condition{cond("_uuid", "==", uuidValue(datapath))}})
	if err != nil {
		return "", err
	}
	if len(rows[0]) == 0 {
		return "", fmt.Errorf("no Datapath_Binding %s: %w", datapath, ErrNotFound)
	}
	_, name, err := decodeDatapathName(rows[0][0])
	return name, err
}

// Chassis implements Reader.
func (c *Client) Chassis(ctx context.Context, name string) (Chassis, error) {
	return queryChassis(ctx, c, name)
}

// PortBindings implements Reader.
func (c *Client) PortBindings(ctx context.Context, chassisUUID string) ([]PortBinding, error) {
	return queryPortBindings(ctx, c, cond("chassis", "==", uuidValue(chassisUUID)))
}

// UnknownPorts implements Reader.
func (c *Client) UnknownPorts(ctx context.Context, datapathUUID string) ([]PortBinding, error) {
	return queryUnknownPorts(ctx, c, datapathUUID)
}

// LogicalFlows implements Reader.
func (c *Client) LogicalFlows(ctx context.Context, q FlowQuery) ([]LogicalFlow, error) {
	return queryLogicalFlows(ctx, c, q)
}

// DatapathName implements Reader.
func (c *Client) DatapathName(ctx context.Context, datapathUUID string) (string, error) {
	return queryDatapathName(ctx, c, datapathUUID)
}

var _ Reader = (*Client)(nil)
