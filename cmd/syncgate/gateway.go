package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/proxy"
)

func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", "syncgate").Logger()
}

// gateway is one running `syncgate serve`: the proxy, its listeners, the
// audit writer and the certificate sources, wired from a serve config.
type gateway struct {
	cfg    *serveConfig
	log    zerolog.Logger
	audit  *audit.Writer
	srv    *proxy.Server
	ica    *certs.InterceptCA
	ccerts *certs.ClientCerts
	lcert  atomic.Pointer[tls.Certificate]
	lpool  atomic.Pointer[x509.CertPool]

	Addr, PlainAddr, MetricsAddr string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// startGateway builds and starts a gateway. It returns once every listener
// is open, so callers can use the addresses at once.
func startGateway(ctx context.Context, cfg *serveConfig, log zerolog.Logger) (*gateway, error) {
	g := &gateway{cfg: cfg, log: log}
	eng, err := loadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	fsync := cfg.Audit.Fsync
	if fsync == "" {
		fsync = "always"
	}
	aw, err := audit.Open(ctx, audit.Options{
		Path:          cfg.path(cfg.Audit.Path),
		Fsync:         fsync,
		BatchInterval: time.Duration(cfg.Audit.BatchMS) * time.Millisecond,
		FailClosed:    cfg.failClosed(),
		Logger:        log.With().Str("component", "audit").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	g.audit = aw
	ok := false
	defer func() {
		if !ok {
			aw.Close()
		}
	}()

	g.ica, err = certs.LoadInterceptCA(cfg.path(cfg.InterceptCA.CertFile), cfg.path(cfg.InterceptCA.KeyFile), certs.InterceptOptions{
		OnReloadError: g.reloadError,
	})
	if err != nil {
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
		if err := g.loadListenerTLS(); err != nil {
			return nil, err
		}
		tlsCfg = g.listenerTLSConfig()
	}
	netw, err := cfg.network()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	g.srv, err = proxy.New(opts)
	if err != nil {
		return nil, err
	}
	g.srv.SetPolicy(eng)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	var lns []func() error
	closeAll := func() {
		cancel()
	}
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		g.Addr = ln.Addr().String()
		lns = append(lns, func() error { return g.srv.Serve(runCtx, ln, false) })
	}
	if cfg.PlainListen != "" {
		ln, err := proxy.ListenPlain(cfg.PlainListen)
		if err != nil {
			closeAll()
			return nil, err
		}
		g.PlainAddr = ln.Addr().String()
		lns = append(lns, func() error { return g.srv.Serve(runCtx, ln, true) })
	}
	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("metrics listen %s: %w", cfg.Metrics.Listen, err)
		}
		g.MetricsAddr = ln.Addr().String()
		hs := &http.Server{Handler: g.srv.AdminHandler(reg), ReadHeaderTimeout: 5 * time.Second}
		lns = append(lns, func() error {
			stop := context.AfterFunc(runCtx, func() { hs.Close() })
			defer stop()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.ica.Watch(runCtx, 30*time.Second)
	}()
	g.configRecord(ctx, "start", "ok", "")
	log.Info().Str("listen", g.Addr).Str("plain_listen", g.PlainAddr).Str("metrics", g.MetricsAddr).
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
	}
}

// Close stops the listeners, waits for connections and closes the log.
func (g *gateway) Close() error {
	g.cancel()
	g.wg.Wait()
	err := g.audit.Close()
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return errors.Join(g.err, err)
}

// Done is closed when the gateway stops on its own (a listener failed).
func (g *gateway) Err() error {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return g.err
}

func loadPolicy(cfg *serveConfig) (*policy.Engine, error) {
	p, err := policy.Load(cfg.path(cfg.Policy))
	if err != nil {
		return nil, err
	}
	e, err := policy.Compile(p)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// loadListenerTLS reads the listener certificate and client CA bundle.
func (g *gateway) loadListenerTLS() error {
	c := g.cfg.TLS
	cert, err := tls.LoadX509KeyPair(g.cfg.path(c.CertFile), g.cfg.path(c.KeyFile))
	if err != nil {
		return fmt.Errorf("listener certificate: %w", err)
	}
	var pool *x509.CertPool
	if len(c.ClientCA) > 0 {
		pool = x509.NewCertPool()
		for _, f := range c.ClientCA {
			b, err := os.ReadFile(g.cfg.path(f))
			if err != nil {
				return fmt.Errorf("tls.client_ca: %w", err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return fmt.Errorf("tls.client_ca: %s holds no certificate", f)
			}
		}
	}
	g.lcert.Store(&cert)
	g.lpool.Store(pool)
	return nil
}

// listenerTLSConfig reads the certificate and client pool through atomic
// pointers, so a reload applies to new handshakes and never to live ones.
func (g *gateway) listenerTLSConfig() *tls.Config {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: certs.ListenerCipherSuites(),
		NextProtos:   []string{"http/1.1"},
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		cert := g.lcert.Load()
		c.Certificates = []tls.Certificate{*cert}
		if pool := g.lpool.Load(); pool != nil {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = pool
		}
		return c, nil
	}
	return base
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
	eng, err := loadPolicy(cfg)
	if err != nil {
		g.reloadError("policy", err)
		return err
	}
	g.srv.SetPolicy(eng)
	g.configRecord(ctx, "reload", "ok", "policy "+cfg.path(cfg.Policy))
	if g.cfg.Listen != "" {
		old := *g.cfg
		g.cfg.TLS = cfg.TLS
		if err := g.loadListenerTLS(); err != nil {
			g.cfg.TLS = old.TLS
			g.reloadError("listener certificate", err)
			return err
		}
	}
	if err := g.ica.Reload(); err != nil {
		g.reloadError("intercept CA", err)
		return err
	}
	if g.ccerts != nil {
		if err := g.ccerts.Reload(); err != nil {
			g.reloadError("client certificates", err)
			return err
		}
	}
	g.log.Info().Msg("reloaded")
	return nil
}

func (g *gateway) reloadError(what string, err error) {
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
