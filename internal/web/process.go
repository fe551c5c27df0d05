package web

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// processCollector reports the usual process_* metrics of the agent, under
// client_golang's names and HELP, at a fraction of its cost: client_golang
// reads /proc/self/stat, /proc/self/limits, /proc/stat and the whole of
// /proc/self/net/netstat at every scrape (~0.4 ms, most of a cached
// scrape), while these come from getrusage, getrlimit, the two numbers of
// /proc/self/statm and the fd directory. Its
// process_network_{receive,transmit}_bytes_total are left out: they are
// the network namespace's IP octets, not the process's.
type processCollector struct {
	cpu, rss, vsize, fds, maxFDs, maxVsize, start *prometheus.Desc
	startTime                                     float64 // 0 when unreadable
	pageSize                                      float64
}

func newProcessCollector() *processCollector {
	c := &processCollector{
		cpu:      prometheus.NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil, nil),
		fds:      prometheus.NewDesc("process_open_fds", "Number of open file descriptors.", nil, nil),
		maxFDs:   prometheus.NewDesc("process_max_fds", "Maximum number of open file descriptors.", nil, nil),
		vsize:    prometheus.NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", nil, nil),
		maxVsize: prometheus.NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", nil, nil),
		rss:      prometheus.NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", nil, nil),
		start:    prometheus.NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", nil, nil),
		pageSize: float64(os.Getpagesize()),
	}
	// The start time does not change: read it (and the boot time in the
	// long /proc/stat) once.
	if p, err := procfs.Self(); err == nil {
		if st, err := p.Stat(); err == nil {
			c.startTime, _ = st.StartTime()
		}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpu, c.rss, c.vsize, c.fds, c.maxFDs, c.maxVsize, c.start} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. What cannot be read is left
// out, as client_golang's collector does by default.
func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, cpu)
	}
	if vsize, rss, err := readStatm("/proc/self/statm"); err == nil {
		ch <- prometheus.MustNewConstMetric(c.vsize, prometheus.GaugeValue, vsize*c.pageSize)
		ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, rss*c.pageSize)
	}
	if n, err := countDir("/proc/self/fd"); err == nil {
		ch <- prometheus.MustNewConstMetric(c.fds, prometheus.GaugeValue, float64(n))
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		ch <- prometheus.MustNewConstMetric(c.maxFDs, prometheus.GaugeValue, float64(lim.Cur))
	}
	if unix.Getrlimit(unix.RLIMIT_AS, &lim) == nil {
		ch <- prometheus.MustNewConstMetric(c.maxVsize, prometheus.GaugeValue, float64(lim.Cur))
	}
	if c.startTime > 0 {
		ch <- prometheus.MustNewConstMetric(c.start, prometheus.GaugeValue, c.startTime)
	}
}

// readStatm reads the total and resident program size, in pages, from
// proc(5)'s statm line "size resident shared text lib data dt", e.g.
// "310786 4563 2541 1254 0 36733 0".
func readStatm(path string) (size, resident float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("%s: %q has fewer than 2 fields", path, b)
	}
	s, err1 := strconv.ParseUint(string(f[0]), 10, 64)
	r, err2 := strconv.ParseUint(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%s: %q is not numbers of pages", path, b)
	}
	return float64(s), float64(r), nil
}

// countDir counts the entries of /proc/<pid>/fd: since Linux 6.2 its size
// is the number of open fds, older kernels say 0 and the entries are read.
func countDir(path string) (int, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return int(st.Size()), nil
	}
	d, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = d.Close() }()
	names, err := d.Readdirnames(-1)
	// One of them is d itself, opened for the count.
	return len(names) - 1, err
}
