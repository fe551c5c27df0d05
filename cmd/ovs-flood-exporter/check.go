package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// runCheck polls often enough for the detector to call a flood sustained,
// then prints the diagnosis and returns the exit status.
func runCheck(ctx context.Context, cfg agent.Config, src []agent.Source, log *zap.Logger, output string) int {
	store := &state.Store{}
	a := agent.New(cfg, src, log, store)
	polls := cfg.Detect.SustainPolls + 1
	var first, last *state.Snapshot
	for i := 0; i < polls; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return report.ExitUnreadable
			case <-time.After(cfg.Interval):
			}
		}
		last = a.Poll(ctx)
		if first == nil {
			first = last
		}
		if !last.Sources[state.SourceUnixctl].Up && !last.Sources[state.SourceLinuxBridge].Up {
			break // nothing to wait for (no OVS, and no Linux bridge read)
		}
	}
	r := report.Build(first, last)
	var err error
	if output == "json" {
		err = r.WriteJSON(os.Stdout)
	} else {
		err = r.WriteTable(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ovs-flood-exporter check: %v\n", err)
	}
	return r.ExitCode()
}
