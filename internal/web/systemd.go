package web

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// keepAlive feeds systemd's watchdog every half watchdog interval while
// progressing says the poll loop moves, whatever --poll.interval is: a
// long interval must not get the agent killed, and a poll loop stuck on
// a source that ignores its deadline must. It does nothing when the
// watchdog is off (interval 0) and stops when ctx ends.
func keepAlive(ctx context.Context, interval time.Duration, progressing func(time.Time) bool, notify func(string)) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if ctx.Err() == nil && progressing(now) {
				notify(daemon.SdNotifyWatchdog)
			}
		}
	}
}
