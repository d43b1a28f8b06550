package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/fsm"
)

// Source gives the API everything it shows. Both calls must be cheap: every
// request and every scrape makes them.
type Source interface {
	// Status is this node as the agent last observed it (cached by the agent).
	Status(ctx context.Context) NodeStatus
	// Cluster is the local copy of the replicated state.
	Cluster() fsm.State
}

// ConfigWriter changes the dynamic configuration (PATCH and PUT /config).
type ConfigWriter interface {
	// SetConfig replaces the dynamic configuration with cfg if it was last
	// changed at expectIndex. Errors wrapping fsm.ErrInvalidConfig become 400,
	// fsm.ErrConfigConflict 409, anything else 503.
	SetConfig(ctx context.Context, cfg map[string]any, expectIndex uint64) error
}

// BasicAuth is restapi.authentication: the credentials unsafe methods need.
type BasicAuth struct {
	Username string
	Password string
}

// Config configures a Server. Zero fields get the defaults of withDefaults.
type Config struct {
	// Listen is restapi.listen, host:port. Default "127.0.0.1:8008".
	Listen string
	// Source is required.
	Source Source
	// Config may be nil: PATCH and PUT /config then answer 503.
	Config ConfigWriter
	// Logger defaults to a null logger; the server logs as Named("api").
	Logger hclog.Logger
	// Registry receives the /metrics collector. Nil: a new registry.
	Registry *prometheus.Registry
	// Failsafe receives POST /failsafe; nil answers 502.
	Failsafe FailsafeReceiver
	// Auth, when set, is required for POST, PUT, PATCH and DELETE.
	Auth *BasicAuth
	// Pending receives switchover and failover requests; nil answers 503.
	Pending PendingWriter

	// Operator runs POST/DELETE /restart, /reload, /reinitialize; nil answers 503.
	Operator Operator
	// Membership runs POST /members and /leave (membership.go); nil answers 503.
	Membership Membership

	// Backups runs POST /backup and answers GET /backup; nil answers 503.
	Backups Backups

	// Access: who may send state-changing requests (guard.go).
	Access Access
	// TLS, when set, serves HTTPS (certs.Server builds it).
	TLS *tls.Config
	// ExtraHeaders go on every answer (restapi.http_extra_headers, plus
	// https_extra_headers over TLS), canonicalized once in New.
	ExtraHeaders http.Header
	// TracebackLevel is the level at which the stack of a handler that
	// panicked is logged (log.traceback_level); the error line itself is
	// always logged at ERROR. Default hclog.Error.
	TracebackLevel hclog.Level
}

// Defaults and limits.
const (
	DefaultListen     = "127.0.0.1:8008"
	maxBodyBytes      = 1 << 20 // request bodies
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 5 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	extra := http.Header{}
	for k, v := range c.ExtraHeaders {
		for _, x := range v {
			extra.Add(k, x)
		}
	}
	c.ExtraHeaders = extra
	if c.TracebackLevel == hclog.NoLevel {
		c.TracebackLevel = hclog.Error
	}
	return c
}

// Errors the handlers return; statusFor maps them (and fsm's) to HTTP codes.
var (
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errUnauthorized     = errors.New("authentication required")
	errBadRequest       = errors.New("bad request")
	errNoConfigWriter   = errors.New("configuration changes are not available on this node")
)

// statusFor is the one place that maps an error to an HTTP status code.
func statusFor(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadRequest), errors.Is(err, fsm.ErrInvalidConfig), errors.Is(err, ErrMembershipInvalid):
		return http.StatusBadRequest
	case errors.Is(err, fsm.ErrConfigConflict), errors.Is(err, ErrMembershipConflict):
		return http.StatusConflict
	case errors.Is(err, errFailsafeOff):
		return http.StatusBadGateway
	default: // errNoConfigWriter, not leader, shutdown, timeouts
		return http.StatusServiceUnavailable
	}
}

// handlerFunc writes a response, or returns an error before writing anything.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	methods map[string]handlerFunc
	allow   string
}

// Server is the REST API of one agent.
type Server struct {
	cfg         Config
	logger      hclog.Logger
	routes      map[string]*route
	metrics     http.Handler
	now         func() time.Time // tests replace it
	views       viewCache        // health checks' view of the current state (cache.go)
	failsafeLog failsafeLog      // POST /failsafe outcomes logged (failsafe.go)
	// reportWait bounds how long a successful switchover's answer waits
	// for the new leader's own report (switchover.go); tests shorten it.
	reportWait time.Duration
}

// New builds a Server and registers its collector in cfg.Registry.
func New(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("api: Source is required")
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:    cfg,
		logger: cfg.Logger.Named("api"),
		routes: map[string]*route{},
		now:    time.Now,

		reportWait: leaderReportWait,
	}
	metrics, err := s.newMetricsHandler(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = metrics
	s.registerRoutes()
	return s, nil
}

func (s *Server) registerRoutes() {
	for _, p := range []string{"/", "/primary", "/master", "/leader", "/read-write"} {
		s.handle(p, http.MethodGet, s.check(checkPrimary))
	}
	s.handle("/replica", http.MethodGet, s.check(checkReplica))
	s.handle("/read-only", http.MethodGet, s.check(checkReadOnly))
	for _, p := range []string{"/standby-leader", "/standby_leader"} {
		s.handle(p, http.MethodGet, s.check(checkStandbyLeader))
	}
	for _, p := range []string{"/synchronous", "/sync"} {
		s.handle(p, http.MethodGet, s.check(checkSynchronous))
	}
	for _, p := range []string{"/asynchronous", "/async"} {
		s.handle(p, http.MethodGet, s.check(checkAsynchronous))
	}
	s.handle("/health", http.MethodGet, s.check(checkHealth))
	s.handle("/liveness", http.MethodGet, s.liveness)
	s.handle("/readiness", http.MethodGet, s.readiness)
	s.handle("/patroni", http.MethodGet, s.patroni)
	s.handle("/cluster", http.MethodGet, s.cluster)
	s.handle("/history", http.MethodGet, s.history)
	s.handle("/config", http.MethodGet, s.getConfig)
	s.handle("/config", http.MethodPatch, s.patchConfig)
	s.handle("/config", http.MethodPut, s.putConfig)
	s.handle("/metrics", http.MethodGet, s.serveMetrics)
	s.handle("/failsafe", http.MethodPost, s.failsafe)
	s.handle("/switchover", http.MethodPost, s.postSwitchover)
	s.handle("/switchover", http.MethodDelete, s.deleteSwitchover)
	s.handle("/failover", http.MethodPost, s.postFailover)

	s.handle("/restart", http.MethodPost, s.postRestart)
	s.handle("/restart", http.MethodDelete, s.deleteRestart)
	s.handle("/reload", http.MethodPost, s.postReload)
	s.handle("/reinitialize", http.MethodPost, s.postReinitialize)
	s.handle("/members", http.MethodPost, s.postMembers)
	s.handle("/leave", http.MethodPost, s.postLeave)
	s.handle("/backup", http.MethodPost, s.postBackup)
	s.handle("/backup", http.MethodGet, s.getBackup)
	delete(s.routes["/metrics"].methods, http.MethodOptions)
	for _, rt := range s.routes {
		names := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			names = append(names, m)
		}
		sort.Strings(names)
		rt.allow = strings.Join(names, ", ")
	}
}

// handle registers h; a GET handler also answers HEAD and OPTIONS.
func (s *Server) handle(path, method string, h handlerFunc) {
	rt := s.routes[path]
	if rt == nil {
		rt = &route{methods: map[string]handlerFunc{}}
		s.routes[path] = rt
	}
	rt.methods[method] = h
	if method == http.MethodGet {
		rt.methods[http.MethodHead] = h
		rt.methods[http.MethodOptions] = h
	}
}

// Handler returns the HTTP handler of all endpoints.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.recoverPanic(w, r)
	for k, v := range s.cfg.ExtraHeaders {
		w.Header()[k] = v
	}
	if r.Body != nil && !safeMethod(r.Method) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	rt, ok := s.routes[r.URL.Path]
	if !ok {
		s.writeError(w, r, fmt.Errorf("%w: %s", errNotFound, r.URL.Path))
		return
	}
	h, ok := rt.methods[r.Method]
	if !ok {
		w.Header().Set("Allow", rt.allow)
		s.writeError(w, r, fmt.Errorf("%w: %s %s", errMethodNotAllowed, r.Method, r.URL.Path))
		return
	}
	if err := s.admit(r); err != nil {
		if errors.Is(err, errUnauthorized) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Conclave"`)
		}
		s.writeError(w, r, err)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Allow", rt.allow)
		w = statusOnly{w}
	case http.MethodHead:
		w = statusOnly{w}
	}
	if err := h(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// recoverPanic turns a handler's panic into a 500 with one JSON line (the
// process and the other requests go on), logs the error at ERROR and its
// stack at log.traceback_level. http.ErrAbortHandler keeps its meaning.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared as net/http does
		panic(v)
	}
	s.logger.Error("request handler panicked", "method", r.Method, "path", r.URL.Path, "error", fmt.Sprint(v))
	s.logger.Log(s.cfg.TracebackLevel, "traceback", "stack", string(debug.Stack()))
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error: " + fmt.Sprint(v)})
}

// statusOnly drops the body: HEAD and OPTIONS get status and headers only.
type statusOnly struct{ http.ResponseWriter }

func (statusOnly) Write(p []byte) (int, error) { return len(p), nil }

// writeJSON writes v with Patroni's content type.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error": "response not encodable"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// writeError answers {"error": "..."} with the status code statusFor gives.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusFor(err)
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if code >= 500 {
		s.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "error", msg)
	} else {
		s.logger.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", code, "error", msg)
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

// ListenAndServe binds cfg.Listen and serves until ctx is done, then shuts
// down gracefully. A bind failure names restapi.listen.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("restapi.listen %q: %w; choose a free address or stop the process using it", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (and closes it) until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          s.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.logger.Info("serving rest api", "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("rest api: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("rest api shutdown: %w", err)
	}
	return nil
}
