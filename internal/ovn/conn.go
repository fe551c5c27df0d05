package ovn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// parseRemote splits an OVN remote as ovn-controller takes it from
// external_ids:ovn-remote ("unix:/run/ovn/ovnsb_db.sock",
// "tcp:192.0.2.10:6642", or a comma-separated list of them for a clustered
// Southbound) into dialable addresses. ssl: is refused with an explanation:
// the agent carries no certificates.
func parseRemote(remote string) ([][2]string, error) {
	var out [][2]string
	for _, one := range strings.Split(remote, ",") {
		one = strings.TrimSpace(one)
		scheme, rest, ok := strings.Cut(one, ":")
		switch {
		case one == "":
			continue
		case !ok || rest == "":
			return nil, fmt.Errorf("OVN Southbound address %q: want unix:/path or tcp:host:port", one)
		case scheme == "unix":
			out = append(out, [2]string{"unix", rest})
		case scheme == "tcp":
			if _, _, err := net.SplitHostPort(rest); err != nil {
				rest = net.JoinHostPort(strings.Trim(rest, "[]"), "6642")
			}
			out = append(out, [2]string{"tcp", rest})
		case scheme == "ssl":
			return nil, fmt.Errorf("OVN Southbound address %q: ssl: needs certificates the agent does not carry; "+
				"give it a unix: or tcp: address of the Southbound (a read-only relay or the local socket)", one)
		default:
			return nil, fmt.Errorf("OVN Southbound address %q: unknown scheme %q (want unix or tcp)", one, scheme)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty OVN Southbound address: is external_ids:ovn-remote set on this chassis?")
	}
	return out, nil
}

// explainDial turns a failed connect into an error that says what to check.
func explainDial(addr, network, address string, err error) error {
	switch {
	case network == "unix" && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("OVN Southbound socket %s does not exist: is the Southbound ovsdb-server running here? %w", address, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("permission denied connecting to the OVN Southbound at %s: run the agent as root: %w", addr, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused by the OVN Southbound at %s (down or restarting?): %w", addr, err)
	default:
		return fmt.Errorf("connecting to the OVN Southbound at %s: %w", addr, err)
	}
}
