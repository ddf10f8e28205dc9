// Package server is refbot's HTTP side: the webhook, health and readiness
// checks and Prometheus metrics, with timeouts that keep slow or stalled
// clients from holding connections.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Options configure a Server.
// DefaultShutdownTimeout is how long the server lets requests in flight
// finish when it stops (Options.ShutdownTimeout); the deploy files' stop
// grace periods allow for it.
const DefaultShutdownTimeout = 20 * time.Second

type Options struct {
	Listen  string       // e.g. 127.0.0.1:8080
	Webhook http.Handler // POST /webhook
	// Ready reports whether refbot can do its work (health.Checker's
	// Ready: its database answers and the last checks of the outside
	// systems passed). GET /readyz answers 503 while it returns an error,
	// with the error's text, one problem a line: it must hold no secret.
	// It is asked with a 2 s deadline, and must not wait for anything
	// outside.
	Ready    func(ctx context.Context) error
	Gatherer prometheus.Gatherer // GET /metrics
	// API, if set, serves /api/v1/ (it does its own authentication).
	API http.Handler
	// Pages, if set, serves every other path: refbot's pages (GET /,
	// /pr/{n}, /jobs/{id} and the review's files and images).
	Pages  http.Handler
	Logger *zap.Logger

	// Timeouts; zero means the defaults below.
	ReadHeaderTimeout time.Duration // 5s
	ReadTimeout       time.Duration // 30s: a 25 MB body at under 1 MB/s is cut
	WriteTimeout      time.Duration // 30s
	IdleTimeout       time.Duration // 2m
	ShutdownTimeout   time.Duration // 20s to finish answering on shutdown
}

// Server serves refbot's HTTP endpoints.
type Server struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
}

// New listens on o.Listen (so that the address is known at once, also for
// port 0) and returns the Server; Run serves.
func New(o Options) (*Server, error) {
	if o.Webhook == nil || o.Ready == nil || o.Gatherer == nil {
		return nil, errors.New("server: Webhook, Ready and Gatherer are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 5*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, 30*time.Second)
	def(&o.IdleTimeout, 2*time.Minute)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", o.Webhook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := o.Ready(ctx); err != nil {
			http.Error(w, "not ready\n"+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	if o.API != nil {
		mux.Handle("/api/v1/", o.API)
	}
	if o.Pages != nil {
		mux.Handle("/", o.Pages)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", o.Listen, err)
	}
	s := &Server{opts: o, ln: ln}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          zap.NewStdLog(o.Logger.Named("http")),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then stops taking requests and lets the ones
// in flight finish (up to ShutdownTimeout).
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
