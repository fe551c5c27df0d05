// Package rawio reads and writes the agent's non-blocking sockets with raw
// system calls.
//
// Go issues read(2) and write(2) on a socket through the runtime's
// blocking-call bookkeeping, which wakes the runtime's monitor thread if
// it was asleep. Woken, that thread checks the process every 20 µs until
// the process has been idle for a while. A poll wakes it after each wait
// for an OVS reply, and on the benchmark host (docs/architecture.md, "What
// the agent itself spends") it cost 0.5 ms of CPU per poll, as much as
// parsing the megaflow dump.
//
// The sockets here are all non-blocking. A read or write returns at once:
// with data, or EAGAIN, after which the runtime's poller waits as usual.
// Calls that cannot block need no bookkeeping, so they are issued raw,
// with the same results and the same deadlines as net.Conn's.
package rawio
