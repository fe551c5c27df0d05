package ovsdb

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// defaultTCPPort is the IANA port of OVSDB, which OVS assumes when a "tcp:"
// address names no port.
const defaultTCPPort = "6640"

// parseAddr splits an OVSDB address in the form OVS tools accept into a
// network and an address for net.Dial:
//
//	unix:/var/run/openvswitch/db.sock
//	tcp:192.0.2.1:6640
//	tcp:[2001:db8::1]:6640
//	tcp:192.0.2.1            (port 6640)
//
// A bare absolute path is taken as a unix socket, since that is what people
// type when they copy the path from ls. Passive forms (punix:, ptcp:) and ssl:
// are refused with an explanation: the agent is a client and carries no
// certificates.
func parseAddr(addr string) (network, address string, err error) {
	if strings.HasPrefix(addr, "/") {
		return "unix", addr, nil
	}
	scheme, rest, ok := strings.Cut(addr, ":")
	if !ok {
		return "", "", fmt.Errorf("ovsdb address %q: want unix:/path/to/db.sock or tcp:host:port (fix --ovs.db)", addr)
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return "", "", fmt.Errorf("ovsdb address %q: empty socket path (fix --ovs.db)", addr)
		}
		return "unix", rest, nil
	case "tcp":
		if rest == "" {
			return "", "", fmt.Errorf("ovsdb address %q: empty host (fix --ovs.db)", addr)
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			// No port: "tcp:192.0.2.1" or "tcp:[2001:db8::1]".
			host, port = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]"), defaultTCPPort
			if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && !strings.HasPrefix(rest, "[")) {
				return "", "", fmt.Errorf("ovsdb address %q: want tcp:host:port, IPv6 hosts in brackets (fix --ovs.db)", addr)
			}
		}
		if host == "" {
			return "", "", fmt.Errorf("ovsdb address %q: empty host (fix --ovs.db)", addr)
		}
		if port == "" {
			port = defaultTCPPort
		}
		return "tcp", net.JoinHostPort(host, port), nil
	case "ssl":
		return "", "", fmt.Errorf("ovsdb address %q: ssl: is not supported, use the local unix: socket (fix --ovs.db)", addr)
	case "punix", "ptcp", "pssl":
		return "", "", fmt.Errorf("ovsdb address %q: %s: is a listening address; give the client form %s: (fix --ovs.db)", addr, scheme, scheme[1:])
	default:
		return "", "", fmt.Errorf("ovsdb address %q: unknown scheme %q, want unix: or tcp: (fix --ovs.db)", addr, scheme)
	}
}

// explainDialError turns a failed connect into an error that says what is
// wrong and what to do, keeping the original error wrapped for errors.Is.
func explainDialError(addr, network, address string, err error) error {
	switch {
	case network == "unix" && errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("ovsdb socket %s does not exist: is ovsdb-server running, and is this its socket? "+
			"Point --ovs.db at it (e.g. unix:/var/run/openvswitch/db.sock): %w", address, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("permission denied connecting to ovsdb at %s: the OVS sockets are root-only on Debian "+
			"(srwxr-x--- root:root), run the exporter as root or give --ovs.db a socket it may open: %w", addr, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		if network == "unix" {
			return fmt.Errorf("nothing listens on ovsdb socket %s (stale socket: ovsdb-server stopped or restarting?); "+
				"check ovsdb-server and --ovs.db: %w", address, err)
		}
		return fmt.Errorf("connection refused by %s: ovsdb-server has no ptcp: remote there; check --ovs.db: %w", addr, err)
	default:
		return fmt.Errorf("connecting to ovsdb at %s (--ovs.db): %w", addr, err)
	}
}
