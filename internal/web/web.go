// Package web serves the metrics, the landing page that shows the live
// diagnosis, and a JSON report, behind exporter-toolkit (TLS, basic auth).
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
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
	Sources     agent.Sources
	Logger      *zap.Logger
	SlogLogger  *slog.Logger
	Flags       *web.FlagConfig
	MetricsPath string
	MaxRequests int
	Pprof       bool
	StartTime   time.Time
}

// Serve runs the poller and the HTTP server until ctx ends; it returns the
// process exit status.
func Serve(ctx context.Context, o Options) int {
	store := &state.Store{}
	a := agent.New(o.Agent, o.Sources, o.Logger, store)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.New(store))
	live := prometheus.NewRegistry()
	live.MustRegister(
		versioncollector.NewCollector("ovs_flood_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	srv := &http.Server{
		Handler:           Handler(store, reg, live, o),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		notify := func(s string) { _, _ = daemon.SdNotify(false, s) }
		a.Run(ctx, func() { notify(daemon.SdNotifyReady) }, func() { notify(daemon.SdNotifyWatchdog) })
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	o.Logger.Info("starting ovs-flood-exporter", zap.Strings("listen", *o.Flags.WebListenAddresses),
		zap.Duration("poll_interval", o.Agent.Interval))
	err := web.ListenAndServe(srv, o.Flags, o.SlogLogger)
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		o.Logger.Error("HTTP server failed", zap.Error(err))
		return 1
	}
	return 0
}

// Handler returns the HTTP routes: metrics, landing page, JSON report,
// health, and (only when enabled) pprof. reg holds the OVS collector (its
// rendering is cached per snapshot); live holds the process metrics,
// gathered at every scrape.
func Handler(store *state.Store, reg, live *prometheus.Registry, o Options) http.Handler {
	mux := http.NewServeMux()
	path := o.MetricsPath
	if path == "" {
		path = "/metrics"
	}
	mux.Handle(path, metricsHandler(&renderCache{store: store, reg: reg}, live, o.MaxRequests, o.SlogLogger))
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
