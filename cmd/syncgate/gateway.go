package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/internal/buildinfo"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/proxy"
	"github.com/syncgate/syncgate/vault"
)

func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	// No component here: each part adds its own, once (a second
	// "component" key in one JSON line is ambiguous to log processors).
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// gateway is one running `syncgate serve`: the proxy, its listeners, the
// audit writer and the certificate sources, wired from a serve config.
type gateway struct {
	cfg    *serveConfig
	log    zerolog.Logger // component "gateway"
	base   zerolog.Logger // no component: parts derive theirs from it
	audit  *audit.Writer
	srv    *proxy.Server
	ica    *certs.InterceptCA
	ccerts *certs.ClientCerts
	lis    *certs.Listener
	store  vault.Store
	broker *vault.Broker

	// icaWatch: policy hosts outside the intercept CA, expiry warnings.
	icaWatch interceptWatch

	Addr, PlainAddr, MetricsAddr string

	reg        *prometheus.Registry
	reloadErrs *prometheus.CounterVec
	tokenEvts  *prometheus.CounterVec

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
	done   chan struct{} // closed when the gateway stops on its own
	// listeners are the open sockets; closed by Serve on shutdown, or by
	// startGateway when a later step fails.
	listeners []net.Listener
}

// startGateway builds and starts a gateway. It returns once every listener
// is open, so callers can use the addresses at once.
func startGateway(ctx context.Context, cfg *serveConfig, log zerolog.Logger) (*gateway, error) {
	g := &gateway{cfg: cfg, log: log.With().Str("component", "gateway").Logger(), base: log, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	g.reloadErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "syncgate_config_reload_errors_total",
		Help: "Reloads rejected (the running version was kept), by what failed.",
	}, []string{"what"})
	g.tokenEvts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "syncgate_token_events_total",
		Help: "The broker's token fetches, refreshes and secret rotations, by credential, event and outcome.",
	}, []string{"credential", "event", "outcome"})
	g.reg.MustRegister(g.reloadErrs, g.tokenEvts, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector(),
		g.probeGauge("syncgate_ready", "/readyz", "1 while /readyz answers 200 (policy loaded, audit log writable, Vault login held), else 0."),
		g.probeGauge("syncgate_healthy", "/healthz", "1 while /healthz answers 200 (the audit log can be written), else 0."))
	eng, err := loadPolicy(cfg, cfg)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			g.closeParts()
		}
	}()
	// The secret store comes first: credentials and the audit checkpoint
	// key may both live in it.
	if len(cfg.Credentials) > 0 || cfg.Audit.Checkpoint.Transit != "" || cfg.InterceptCA.Transit != "" {
		sc := cfg.Secrets
		sc.ResolvePaths(cfg.dir)
		g.store, err = vault.Open(ctx, sc, vault.OpenOptions{
			Logger: log.With().Str("component", "secrets").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("secret store: %w", err)
		}
		g.registerVaultMetrics()
	}
	aopts, err := g.auditOptions(ctx)
	if err != nil {
		return nil, err
	}
	aw, err := audit.Open(ctx, aopts)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	g.audit = aw

	// The intercept CA's key is a file or a Vault Transit key; its name
	// constraints and expiry are checked against the policy below.
	if err := g.openInterceptCA(); err != nil {
		return nil, err
	}
	if len(cfg.ClientCerts) > 0 {
		g.ccerts, err = certs.LoadClientCerts(cfg.ClientCerts, cfg.dir)
		if err != nil {
			return nil, err
		}
	}
	var tlsCfg *tls.Config
	if cfg.Listen != "" {
		g.lis, err = certs.NewListener(ctx, cfg.TLS, cfg.dir, log.With().Str("component", "certs").Logger(),
			certs.WithOnReloadError(g.reloadError), certs.WithNextProtos("http/1.1"))
		if err != nil {
			return nil, fmt.Errorf("listener certificate: %w", err)
		}
		tlsCfg = g.lis.TLSConfig()
	}
	netw, err := cfg.network()
	if err != nil {
		return nil, err
	}
	reg := g.reg
	opts := proxy.Options{
		TLSConfig:  tlsCfg,
		Intercept:  g.ica,
		Audit:      aw,
		FailClosed: cfg.failClosed(),
		Network:    netw,
		Limits:     cfg.limits(),
		Logger:     log.With().Str("component", "proxy").Logger(),
		Registerer: reg,
	}
	if g.ccerts != nil {
		opts.ClientCerts = g.ccerts
	}
	if len(cfg.Credentials) > 0 {
		// Token requests take the same road as client requests: policy,
		// SSRF guard, upstream TLS rules, audit. The proxy hands the
		// broker that transport as it builds it.
		opts.TokenClient = cfg.BrokerClient
		opts.NewInjector = func(tokens http.RoundTripper) (proxy.Injector, error) {
			bo := vault.BrokerOptions{
				HTTPClient: &http.Client{Transport: tokens, Timeout: 30 * time.Second},
				OnToken:    g.tokenRecord,
				Now:        cfg.now,
				Logger:     log.With().Str("component", "broker").Logger(),
			}
			if vs, ok := g.store.(*vault.VaultStore); ok {
				bo.Transit = vs.Transit()
			}
			b, err := vault.NewBroker(ctx, cfg.credentials(), g.store, bo)
			if err != nil {
				return nil, fmt.Errorf("credentials: %w", err)
			}
			g.broker = b
			return b, nil
		}
	}
	g.srv, err = proxy.New(opts)
	if err != nil {
		return nil, err
	}
	g.srv.SetPolicy(eng)
	g.checkIntercept(eng)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	var lns []func() error
	closeAll := func() {
		cancel()
		for _, ln := range g.listeners {
			ln.Close() // none is served yet: nothing else closes them
		}
	}
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		g.listeners = append(g.listeners, ln)
		g.Addr = ln.Addr().String()
		lns = append(lns, func() error { return g.srv.Serve(runCtx, ln, false) })
	}
	if cfg.PlainListen != "" {
		ln, err := proxy.ListenPlain(cfg.PlainListen)
		if err != nil {
			closeAll()
			return nil, err
		}
		g.listeners = append(g.listeners, ln)
		g.PlainAddr = ln.Addr().String()
		lns = append(lns, func() error { return g.srv.Serve(runCtx, ln, true) })
	}
	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("metrics listen %s: %w", cfg.Metrics.Listen, err)
		}
		g.listeners = append(g.listeners, ln)
		g.MetricsAddr = ln.Addr().String()
		admin := g.adminHandler(reg)
		if cfg.Metrics.Pprof {
			admin = proxy.WithPprof(admin) // validated: loopback only
		}
		hs := &http.Server{Handler: admin, ReadHeaderTimeout: 5 * time.Second}
		lns = append(lns, func() error {
			stop := context.AfterFunc(runCtx, func() { hs.Close() })
			defer stop()
			// Close may shut the listener before hs.Close runs: that is
			// a shutdown, not a failure.
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && runCtx.Err() == nil {
				return err
			}
			return nil
		})
	}
	for _, run := range lns {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := run(); err != nil {
				g.fail(err)
			}
		}()
	}
	watch := []func(context.Context, time.Duration){g.ica.Watch, g.watchInterceptExpiry}
	if g.lis != nil {
		watch = append(watch, g.lis.Watch)
	}
	if g.ccerts != nil {
		watch = append(watch, g.ccerts.Watch)
	}
	for _, w := range watch {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			w(runCtx, 10*time.Second)
		}()
	}
	g.configRecord(ctx, "start", "ok", "")
	g.log.Info().Str("listen", g.Addr).Str("plain_listen", g.PlainAddr).Str("metrics", g.MetricsAddr).
		Str("policy", cfg.path(cfg.Policy)).Str("audit", cfg.path(cfg.Audit.Path)).Msg("gateway started")
	ok = true
	return g, nil
}

func (g *gateway) fail(err error) {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if g.err == nil {
		g.err = err
		g.log.Error().Err(err).Msg("listener failed")
		g.cancel()
		close(g.done)
	}
}

// Done is closed when the gateway stops on its own: a listener failed for
// good. The process should then exit (non-zero) so a supervisor restarts it.
func (g *gateway) Done() <-chan struct{} { return g.done }

// Close stops the listeners, waits for connections and closes the log.
func (g *gateway) Close() error {
	g.cancel()
	for _, ln := range g.listeners {
		ln.Close() // a listener whose Serve failed is still open
	}
	g.wg.Wait()
	err := g.closeParts()
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return errors.Join(g.err, err)
}

func (g *gateway) closeParts() error {
	var errs []error
	if g.lis != nil {
		g.lis.Close()
	}
	if g.audit != nil {
		errs = append(errs, g.audit.Close())
	}
	if g.store != nil {
		errs = append(errs, g.store.Close())
	}
	return errors.Join(errs...)
}

// Err is the error that stopped the gateway on its own, or nil.
func (g *gateway) Err() error {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return g.err
}

// loadPolicy loads and compiles the config's policy, and checks that every
// credential and upstream client certificate it names exists in running —
// the config whose credentials and certificates are in use (credentials are
// not reloaded). A dangling name would only fail at request time, with a
// 503; refusing the policy up front tells the operator at once.
func loadPolicy(cfg, running *serveConfig) (*policy.Engine, error) {
	p, err := policy.Load(cfg.path(cfg.Policy))
	if err != nil {
		return nil, err
	}
	e, err := policy.Compile(p)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range p.Destinations {
		if d.Credential != "" {
			if _, ok := running.Credentials[d.Credential]; !ok {
				errs = append(errs, fmt.Errorf("%s: destination %s: credential %q is not in the serve config's credentials", p.File, d.Name, d.Credential))
			}
		}
		if d.ClientCert != "" {
			if _, ok := running.ClientCerts[d.ClientCert]; !ok {
				errs = append(errs, fmt.Errorf("%s: destination %s: client_cert %q is not in the serve config's client_certs", p.File, d.Name, d.ClientCert))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e, nil
}

// reload re-reads the config, the policy and the certificates. Anything that
// fails validation keeps the running version and is reported in the log and
// as an audit record of kind config.
func (g *gateway) reload(ctx context.Context) error {
	cfg, err := loadServeConfig(g.cfg.file)
	if err != nil {
		g.reloadError("config", err)
		return err
	}
	eng, err := loadPolicy(cfg, g.cfg)
	if err != nil {
		g.reloadError("policy", err)
		return err
	}
	g.srv.SetPolicy(eng)
	g.configRecord(ctx, "reload", "ok", "policy "+cfg.path(cfg.Policy))
	if g.lis != nil {
		// Reload reports through OnReloadError itself; the old certificate stays.
		if err := g.lis.Reload(); err != nil {
			return err
		}
	}
	if err := g.ica.Reload(); err != nil {
		return err
	}
	g.checkIntercept(eng)
	if g.ccerts != nil {
		if err := g.ccerts.Reload(); err != nil {
			return err
		}
	}
	g.log.Info().Msg("reloaded")
	return nil
}

func (g *gateway) reloadError(what string, err error) {
	g.reloadErrs.WithLabelValues(what).Inc()
	g.log.Error().Str("what", what).Err(err).Msg("reload rejected; keeping the running version")
	g.configRecord(context.Background(), "reload", "rejected", what+": "+err.Error())
}

func (g *gateway) configRecord(ctx context.Context, event, result, detail string) {
	rec := &audit.Record{
		Time: time.Now().UTC(),
		Kind: audit.KindConfig,
		Detail: map[string]string{
			"event":  event,
			"result": result,
		},
	}
	if detail != "" {
		rec.Detail["detail"] = detail
	}
	if err := g.audit.Write(context.WithoutCancel(ctx), rec); err != nil {
		g.log.Error().Err(err).Msg("config audit record not written")
	}
}

// registerVaultMetrics exports whether the Vault store holds a usable
// token and how many logins failed.
func (g *gateway) registerVaultMetrics() {
	vs, ok := g.store.(*vault.VaultStore)
	if !ok {
		return
	}
	g.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "syncgate_vault_authenticated",
			Help: "1 while the gateway holds a Vault token Vault should accept; 0 when it expired or was refused and logging in again fails.",
		}, func() float64 {
			if vs.AuthError() != nil {
				return 0
			}
			return 1
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "syncgate_vault_login_failures_total",
			Help: "Vault logins that failed since the gateway started.",
		}, func() float64 { return float64(vs.LoginFailures()) }),
	)
}

// adminHandler is the proxy's admin handler with one more readiness
// condition: with the Vault store, the gateway is not ready while it has no
// valid Vault token and cannot log in again (no credential it does not
// already hold can be had).
func (g *gateway) adminHandler(reg *prometheus.Registry) http.Handler {
	h := g.srv.AdminHandler(reg)
	vs, ok := g.store.(*vault.VaultStore)
	if !ok {
		return h
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := vs.AuthError(); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": "vault: " + err.Error()})
			return
		}
		h.ServeHTTP(w, r)
	})
	mux.Handle("/", h)
	return mux
}

// tokenRecord turns a broker event into an audit record of kind token.
// TokenEvent carries no secret by construction.
func (g *gateway) tokenRecord(ctx context.Context, ev vault.TokenEvent) {
	if g.tokenEvts != nil {
		// Credential names come from the config, events and outcomes from
		// the broker: a bounded label set.
		g.tokenEvts.WithLabelValues(ev.Credential, ev.Kind, ev.Outcome).Inc()
	}
	rec := &audit.Record{
		Time:       time.Now().UTC(),
		Kind:       audit.KindToken,
		Subject:    ev.Subject,
		Credential: &audit.Credential{Name: ev.Credential, TokenFP: ev.TokenFP},
		DurationMS: float64(ev.Duration.Microseconds()) / 1000,
		Detail:     map[string]string{"event": ev.Kind, "outcome": ev.Outcome},
	}
	if ev.Reason != "" {
		rec.Detail["reason"] = ev.Reason
	}
	if !ev.Expiry.IsZero() {
		rec.Detail["expiry"] = ev.Expiry.UTC().Format(time.RFC3339)
	}
	if ev.Secret != "" {
		rec.Detail["secret"] = ev.Secret
		rec.Detail["secret_version"] = fmt.Sprint(ev.SecretVersion)
		if ev.PrevSecretVersion > 0 {
			rec.Detail["prev_secret_version"] = fmt.Sprint(ev.PrevSecretVersion)
		}
	}
	if g.audit == nil {
		return
	}
	if err := g.audit.Write(context.WithoutCancel(ctx), rec); err != nil {
		g.log.Error().Err(err).Msg("token audit record not written")
	}
}

// auditOptions builds the writer's options from the config.
func (g *gateway) auditOptions(ctx context.Context) (audit.Options, error) {
	c := g.cfg.Audit
	o := audit.Options{
		Path:               g.cfg.path(c.Path),
		Fsync:              c.Fsync,
		BatchInterval:      time.Duration(c.BatchMS) * time.Millisecond,
		BatchMax:           c.BatchMax,
		RotateSize:         c.RotateSize,
		RotateAge:          time.Duration(c.RotateAge),
		Gzip:               c.Gzip,
		RetainCount:        c.RetainCount,
		RetainAge:          time.Duration(c.RetainAge),
		CheckpointEvery:    c.Checkpoint.Every,
		CheckpointInterval: time.Duration(c.Checkpoint.Interval),
		Logger:             g.base.With().Str("component", "audit").Logger(),
	}
	switch {
	case c.Checkpoint.KeyFile != "":
		s, err := audit.NewEd25519SignerFile(g.cfg.path(c.Checkpoint.KeyFile))
		if err != nil {
			return o, fmt.Errorf("audit.checkpoint.key_file: %w", err)
		}
		o.Signer = s
	case c.Checkpoint.Transit != "":
		vs, ok := g.store.(*vault.VaultStore)
		if !ok {
			return o, errors.New("audit.checkpoint.transit needs the vault secret store")
		}
		s, err := vault.NewTransitAuditSigner(ctx, vs.Transit(), c.Checkpoint.Transit)
		if err != nil {
			return o, fmt.Errorf("audit.checkpoint.transit: %w", err)
		}
		o.Signer = s
	}
	if sl := c.Syslog; sl != nil {
		fo := &audit.SyslogOptions{Address: sl.Address, Insecure: sl.Insecure, AppName: sl.AppName}
		if !sl.Insecure {
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if sl.CAFile != "" {
				pool, err := poolFrom(g.cfg.path(sl.CAFile))
				if err != nil {
					return o, fmt.Errorf("audit.syslog.ca_file: %w", err)
				}
				tc.RootCAs = pool
			}
			fo.TLS = tc
		}
		o.Forward = fo
	}
	return o, nil
}
