// Package web serves the metrics, the landing page that shows the live
// diagnosis, and a JSON report, behind exporter-toolkit (TLS, basic auth).
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"

	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/agent"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/collector"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/report"
	"github.com/ovs-flood-exporter/ovs-flood-exporter/internal/state"
)

// Options configure Serve.
type Options struct {
	Agent       agent.Config
	Sources     []agent.Source
	Logger      *zap.Logger
	SlogLogger  *slog.Logger
	Flags       *web.FlagConfig
	MetricsPath string
	MaxRequests int
	Pprof       bool
	// Notify sends a state to the service manager (READY=1, WATCHDOG=1);
	// nil sends it to systemd (a no-op outside systemd).
	Notify func(state string)
	// WatchdogInterval is systemd's WatchdogSec; nil asks systemd.
	WatchdogInterval func() time.Duration
}

// Serve runs the poller and the HTTP server until ctx ends or the HTTP
// server fails; it returns the process exit status: 1, with the cause
// logged, when the listener cannot be opened (port taken, bad
// --web.config.file) or fails later. Nothing is sent to systemd once the
// server has failed.
func Serve(ctx context.Context, o Options) int {
	o = o.withDefaults()
	if err := validate(o.Flags); err != nil {
		o.Logger.Error("cannot serve: --web.config.file is invalid; fix or remove it", zap.Error(err))
		return 1
	}
	listeners, err := listen(o.Flags)
	if err != nil {
		o.Logger.Error("cannot serve: a --web.listen-address cannot be opened (address in use or not local?)", zap.Error(err))
		return 1
	}
	store := &state.Store{}
	a := agent.New(o.Agent, o.Sources, o.Logger, store)
	srv := newServer(store, o)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- serve(srv, listeners, o)
		cancel() // the server failed or was shut down: stop polling and notifying
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.Run(ctx, func() { o.Notify(daemon.SdNotifyReady) })
	}()
	go func() {
		defer wg.Done()
		watchdog(ctx, o.WatchdogInterval(), a.Progressing, o.Notify)
	}()
	o.Logger.Info("starting ovs-flood-exporter", zap.Strings("listen", *o.Flags.WebListenAddresses),
		zap.Duration("poll_interval", o.Agent.Interval))
	<-ctx.Done()
	shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shut)
	err = <-served
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		o.Logger.Error("HTTP server failed", zap.Error(err))
		return 1
	}
	return 0
}

// validate checks --web.config.file (TLS files, users) before anything
// starts; exporter-toolkit would only find a bad file once serving.
func validate(f *web.FlagConfig) error {
	if f.WebConfigFile == nil {
		return nil
	}
	return web.Validate(*f.WebConfigFile)
}

func (o Options) withDefaults() Options {
	if o.Notify == nil {
		o.Notify = func(s string) { _, _ = daemon.SdNotify(false, s) }
	}
	if o.WatchdogInterval == nil {
		o.WatchdogInterval = func() time.Duration {
			d, _ := daemon.SdWatchdogEnabled(false)
			return d
		}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.SlogLogger == nil {
		o.SlogLogger = slog.New(slog.DiscardHandler)
	}
	return o
}

// LiveRegistry returns the registry of the metrics gathered at every
// scrape: build info, the Go runtime's and the process's.
func LiveRegistry() *prometheus.Registry {
	live := prometheus.NewRegistry()
	live.MustRegister(
		versioncollector.NewCollector("ovs_flood_exporter"),
		collectors.NewGoCollector(),
		newProcessCollector(),
	)
	return live
}

func newServer(store *state.Store, o Options) *http.Server {
	return &http.Server{
		Handler:           Handler(store, LiveRegistry(), o),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// listen opens the TCP listen addresses before anything starts, so a
// taken port fails the start at once. It returns nil for systemd socket
// activation and vsock addresses, which exporter-toolkit opens itself.
func listen(f *web.FlagConfig) ([]net.Listener, error) {
	if f.WebSystemdSocket != nil && *f.WebSystemdSocket {
		return nil, nil
	}
	var out []net.Listener
	for _, addr := range *f.WebListenAddresses {
		if strings.HasPrefix(addr, "vsock://") {
			closeAll(out)
			return nil, nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		_ = l.Close()
	}
}

func serve(srv *http.Server, listeners []net.Listener, o Options) error {
	if listeners == nil {
		return web.ListenAndServe(srv, o.Flags, o.SlogLogger)
	}
	return web.ServeMultiple(listeners, srv, o.Flags, o.SlogLogger)
}

// Handler returns the HTTP routes: metrics, landing page, JSON report,
// health, and (only when enabled) pprof. The OVS metrics of the store's
// snapshots are rendered once per snapshot; live (LiveRegistry) is
// gathered at every scrape and must not hold families of the same names.
func Handler(store *state.Store, live prometheus.Gatherer, o Options) http.Handler {
	o = o.withDefaults()
	mux := http.NewServeMux()
	path := o.MetricsPath
	if path == "" {
		path = "/metrics"
	}
	mux.Handle(path, metricsHandler(newRenderCache(collector.New(store), o.SlogLogger), live, o.MaxRequests, o.SlogLogger))
	mux.HandleFunc("/api/report", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		s := store.Load()
		_ = report.Build(s, s).WriteJSON(w)
	})
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if store.Load() == nil {
			http.Error(w, "first poll not done yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		s := store.Load()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := renderLanding(w, landingData{Report: report.Build(s, s), MetricsPath: path, Ready: s != nil}); err != nil {
			o.Logger.Debug("landing page", zap.Error(err))
		}
	})
	return mux
}
