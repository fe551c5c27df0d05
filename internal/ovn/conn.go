package ovn

import (
	"bytes"
	"context"
	"encoding/json"
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

// maxMessage bounds one JSON-RPC message from the server: a selective
// select answers in kilobytes; anything near this is not our reply.
const maxMessage = 64 << 20

// rpcConn is one JSON-RPC session with an OVSDB server, used by one call at
// a time. Calls are synchronous: a request is written and messages are read
// until its reply arrives, answering the server's echo probes on the way
// (ovsdb-server probes TCP clients and drops those that stay silent).
type rpcConn struct {
	addr string
	nc   net.Conn
	lr   *limitedReader
	dec  *json.Decoder
	id   int64
}

// response is a JSON-RPC message from the server: a reply (id, result,
// error) or a request (method, params, id) such as an echo probe.
type response struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// dialOne connects to one OVSDB address.
func dialOne(ctx context.Context, network, address, addr string) (*rpcConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, explainDial(addr, network, address, err)
	}
	lr := &limitedReader{r: nc}
	return &rpcConn{addr: addr, nc: nc, lr: lr, dec: json.NewDecoder(lr)}, nil
}

// limitedReader refuses to read more than maxMessage bytes for one call, so
// a server that never stops talking cannot exhaust memory.
type limitedReader struct {
	r net.Conn
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n > maxMessage {
		return 0, fmt.Errorf("server sent more than %d bytes without finishing a reply", maxMessage)
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// call sends one request and returns its result.
func (c *rpcConn) call(ctx context.Context, m method, params json.RawMessage) (json.RawMessage, error) {
	if m == methodEcho {
		return nil, errors.New("echo is only sent as a reply")
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(DefaultTimeout)
	}
	_ = c.nc.SetDeadline(dl)
	defer func() { _ = c.nc.SetDeadline(time.Time{}) }()
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c.lr.n = 0
	c.id++
	id := c.id
	req, err := json.Marshal(struct {
		Method method          `json:"method"`
		Params json.RawMessage `json:"params"`
		ID     int64           `json:"id"`
	}{m, params, id})
	if err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return nil, c.ioError(ctx, err)
	}
	want := []byte(fmt.Sprint(id))
	for {
		var msg response
		if err := c.dec.Decode(&msg); err != nil {
			return nil, c.ioError(ctx, err)
		}
		switch {
		case msg.Method == string(methodEcho):
			if err := c.replyEcho(msg); err != nil {
				return nil, c.ioError(ctx, err)
			}
		case msg.Method != "":
			continue // a notification we never asked for: ignore
		case bytes.Equal(msg.ID, want):
			if len(msg.Error) > 0 && !bytes.Equal(msg.Error, []byte("null")) {
				return nil, fmt.Errorf("%s refused %s: %s", c.addr, m, msg.Error)
			}
			return msg.Result, nil
		}
	}
}

// replyEcho answers the server's keepalive probe with its own params.
func (c *rpcConn) replyEcho(msg response) error {
	params := msg.Params
	if len(params) == 0 {
		params = json.RawMessage("[]")
	}
	b, err := json.Marshal(struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}{msg.ID, params, json.RawMessage("null")})
	if err != nil {
		return err
	}
	_, err = c.nc.Write(b)
	return err
}

// ioError explains a failed read or write.
func (c *rpcConn) ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("OVN Southbound %s: %w", c.addr, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("OVN Southbound %s did not answer in time: %w", c.addr, err)
	}
	return fmt.Errorf("OVN Southbound %s: connection lost (ovsdb-server restarting?): %w", c.addr, err)
}

func (c *rpcConn) close() error { return c.nc.Close() }

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
