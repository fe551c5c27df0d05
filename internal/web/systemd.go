package web

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// watchdog feeds systemd's watchdog every half watchdog interval (none
// when the watchdog is off) until ctx ends; see keepAlive.
func watchdog(ctx context.Context, interval time.Duration, progressing func(time.Time) bool, notify func(string)) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	keepAlive(ctx, t.C, progressing, notify)
}

// keepAlive sends WATCHDOG=1 at each tick while progressing says the poll
// loop moves, whatever --poll.interval is: a long interval must not get
// the agent killed, and a poll loop stuck on a source that ignores its
// deadline must. It stops when ctx ends.
func keepAlive(ctx context.Context, tick <-chan time.Time, progressing func(time.Time) bool, notify func(string)) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick:
			if ctx.Err() == nil && progressing(now) {
				notify(daemon.SdNotifyWatchdog)
			}
		}
	}
}
