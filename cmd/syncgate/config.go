package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/internal/yamlerr"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/proxy"
	"github.com/syncgate/syncgate/vault"
)

// serveConfig is the `syncgate serve` configuration file (DESIGN.md, "Serve
// config"). Paths inside are relative to the file.
type serveConfig struct {
	Listen      string                            `yaml:"listen"`
	TLS         certs.ListenerConfig              `yaml:"tls"`
	PlainListen string                            `yaml:"plain_listen"`
	InterceptCA interceptCAConfig                 `yaml:"intercept_ca"`
	Policy      string                            `yaml:"policy"`
	Audit       auditConfig                       `yaml:"audit"`
	Network     networkConfig                     `yaml:"network"`
	ClientCerts map[string]certs.FilePair         `yaml:"client_certs"`
	Secrets     vault.StoreConfig                 `yaml:"secrets"`
	Credentials map[string]vault.CredentialConfig `yaml:"credentials"`
	// BrokerClient is the policy client the gateway's own token requests
	// act as; token endpoints must be destinations that list it.
	BrokerClient string `yaml:"broker_client"`
	Metrics      struct {
		Listen string `yaml:"listen"`
		// Pprof serves net/http/pprof under /debug/pprof/ on the metrics
		// listener. Off by default; refused unless that listener is on
		// loopback, since profiles and heap dumps show process memory.
		Pprof bool `yaml:"pprof"`
	} `yaml:"metrics"`
	Limits limitsConfig `yaml:"limits"`
	Log    struct {
		Level string `yaml:"level"` // debug | info (default) | warn | error
	} `yaml:"log"`

	dir  string // directory of the config file
	file string
	// now is the token broker's clock; time.Now when nil. Tests set it to
	// move token expiry without sleeping.
	now func() time.Time
}

type auditConfig struct {
	Path       string `yaml:"path"`
	Fsync      string `yaml:"fsync"` // always | batch
	BatchMS    int    `yaml:"batch_ms"`
	BatchMax   int    `yaml:"batch_max"`
	FailClosed *bool  `yaml:"fail_closed"`

	RotateSize  int64    `yaml:"rotate_size"` // bytes
	RotateAge   duration `yaml:"rotate_age"`
	Gzip        bool     `yaml:"gzip"`
	RetainCount int      `yaml:"retain_count"`
	RetainAge   duration `yaml:"retain_age"`

	Checkpoint struct {
		Every    int      `yaml:"every"`    // records
		Interval duration `yaml:"interval"` // or time
		KeyFile  string   `yaml:"key_file"` // Ed25519 private key (PEM), from `syncgate audit keygen`
		Transit  string   `yaml:"transit"`  // or a Vault Transit key (secrets.backend: vault)
	} `yaml:"checkpoint"`

	Syslog *struct {
		Address  string `yaml:"address"`  // host:port, RFC 5424 over TLS
		CAFile   string `yaml:"ca_file"`  // roots for the collector's certificate
		Insecure bool   `yaml:"insecure"` // plain TCP, loopback collectors only
		AppName  string `yaml:"app_name"`
	} `yaml:"syslog"`
}

type networkConfig struct {
	AllowRanges []string          `yaml:"allow_ranges"`
	Hosts       map[string]string `yaml:"hosts"`
	Resolver    string            `yaml:"resolver"`
}

type limitsConfig struct {
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
	MaxEWSBodyBytes   int64    `yaml:"max_ews_body_bytes"`
	HeaderTimeout     duration `yaml:"header_timeout"`
	IdleTimeout       duration `yaml:"idle_timeout"`
	RequestTimeout    duration `yaml:"request_timeout"`
	UpstreamTimeout   duration `yaml:"upstream_timeout"`
	MaxConnsPerClient int      `yaml:"max_conns_per_client"`
	// HandshakesPerSecond caps client TLS handshakes per source address.
	HandshakesPerSecond float64 `yaml:"handshakes_per_second"`
	// HandshakeAuditInterval: repeated failed handshakes from one source
	// are summarised in one audit record per interval.
	HandshakeAuditInterval duration `yaml:"handshake_audit_interval"`
	// EWSItemIDs: EWS item ids remembered per EWS destination (LRU).
	EWSItemIDs int `yaml:"ews_item_ids"`
}

// duration is a time.Duration written as "10s" in YAML.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		// Not the value: a secret in the wrong field must not be echoed.
		return fmt.Errorf("line %d: invalid duration (want e.g. 10s)", n.Line)
	}
	*d = duration(v)
	return nil
}

// loadServeConfig reads and validates a serve config strictly: unknown
// fields and bad values are errors naming the file and line.
func loadServeConfig(path string) (*serveConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c serveConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, yamlerr.Scrub(err))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	c.file, c.dir = abs, filepath.Dir(abs)
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.defaults()
	return &c, nil
}

// defaults fills in what the file left out. It is the one place the serve
// config's defaults are set, applied once by loadServeConfig after
// validation; nothing downstream re-derives a default. The proxy's limits
// are the exception by design: proxy.Limits owns theirs (a zero limit means
// its default), so a Server built without a config file gets the same.
func (c *serveConfig) defaults() {
	if c.Audit.Fsync == "" {
		c.Audit.Fsync = "always"
	}
	if c.Audit.FailClosed == nil {
		on := true
		c.Audit.FailClosed = &on
	}
	if c.BrokerClient == "" {
		c.BrokerClient = "token-broker"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if sc := &c.Secrets; sc.Backend == "" || sc.Backend == "file" {
		if sc.Path == "" {
			sc.Path = "secrets.enc"
		}
		if sc.KeyFile == "" && sc.KeyEnv == "" {
			sc.KeyFile = "secrets.key"
		}
	}
}

func (c *serveConfig) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *serveConfig) validate() error {
	var errs []error
	if c.Listen == "" && c.PlainListen == "" {
		errs = append(errs, errors.New("one of listen or plain_listen is required"))
	}
	if c.Listen != "" && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") && c.TLS.ACME == nil && c.TLS.Internal == nil {
		errs = append(errs, errors.New("listen needs tls.cert_file and tls.key_file, tls.acme or tls.internal"))
	}
	cp := c.Audit.Checkpoint
	if (cp.Every > 0 || cp.Interval > 0) && cp.KeyFile == "" && cp.Transit == "" {
		errs = append(errs, errors.New("audit.checkpoint needs key_file or transit"))
	}
	if cp.Transit != "" && c.Secrets.Backend != "vault" {
		errs = append(errs, errors.New("audit.checkpoint.transit needs secrets.backend: vault"))
	}
	if s := c.Audit.Syslog; s != nil && s.Address == "" {
		errs = append(errs, errors.New("audit.syslog.address is required"))
	}
	for name, cr := range c.Credentials {
		if cr.Type == "" {
			errs = append(errs, fmt.Errorf("credentials.%s: type is required", name))
		}
	}
	if c.PlainListen != "" {
		ap, err := netip.ParseAddrPort(c.PlainListen)
		if err != nil || !ap.Addr().IsLoopback() {
			errs = append(errs, fmt.Errorf("plain_listen %q must be a loopback address and port", c.PlainListen))
		}
	}
	if err := c.validatePprof(); err != nil {
		errs = append(errs, err)
	}
	if c.Policy == "" {
		errs = append(errs, errors.New("policy is required"))
	}
	if err := c.InterceptCA.validate(c.Secrets.Backend); err != nil {
		errs = append(errs, err)
	}
	if c.Audit.Path == "" {
		errs = append(errs, errors.New("audit.path is required"))
	}
	switch c.Audit.Fsync {
	case "", "always", "batch":
	default:
		errs = append(errs, fmt.Errorf("audit.fsync %q: want always or batch", c.Audit.Fsync))
	}
	if _, err := c.network(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validatePprof refuses metrics.pprof unless the metrics listener is a
// loopback address: a heap profile or goroutine dump can show tokens and
// request data held in memory, so it must never be reachable off the host.
// A name such as localhost is refused too: what it resolves to is not ours
// to decide.
func (c *serveConfig) validatePprof() error {
	if !c.Metrics.Pprof {
		return nil
	}
	if c.Metrics.Listen == "" {
		return errors.New("metrics.pprof needs metrics.listen (a loopback address)")
	}
	ap, err := netip.ParseAddrPort(c.Metrics.Listen)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("metrics.pprof: metrics.listen %q must be a loopback IP address and port (e.g. 127.0.0.1:9090): profiles expose process memory", c.Metrics.Listen)
	}
	return nil
}

// credentials returns the credentials with file paths made relative to the
// config file, as for every other path in it.
func (c *serveConfig) credentials() map[string]vault.CredentialConfig {
	out := make(map[string]vault.CredentialConfig, len(c.Credentials))
	for name, cr := range c.Credentials {
		if cr.Certificate != nil && cr.Certificate.File != "" {
			ref := *cr.Certificate
			ref.File = c.path(ref.File)
			cr.Certificate = &ref
		}
		out[name] = cr
	}
	return out
}

func (c *serveConfig) failClosed() bool { return *c.Audit.FailClosed }

// network converts the network section, normalising host names the same way
// policy does so a static mapping matches what policy sees.
func (c *serveConfig) network() (proxy.Network, error) {
	var n proxy.Network
	for _, r := range c.Network.AllowRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return n, fmt.Errorf("network.allow_ranges: %q is not a CIDR", r)
		}
		n.AllowRanges = append(n.AllowRanges, p.Masked())
	}
	if len(c.Network.Hosts) > 0 {
		n.Hosts = make(map[string]netip.AddrPort, len(c.Network.Hosts))
	}
	for h, a := range c.Network.Hosts {
		nh, err := policy.NormalizeHost(h)
		if err != nil {
			return n, fmt.Errorf("network.hosts: %q: %w", h, err)
		}
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return n, fmt.Errorf("network.hosts: %q: address %q is not ip:port", h, a)
		}
		n.Hosts[nh] = ap
	}
	if r := c.Network.Resolver; r != "" && !strings.Contains(r, ":") {
		n.Resolver = r + ":53"
	} else {
		n.Resolver = r
	}
	return n, nil
}

func (c *serveConfig) limits() proxy.Limits {
	l := c.Limits
	return proxy.Limits{
		MaxHeaderBytes: l.MaxHeaderBytes, MaxBodyBytes: l.MaxBodyBytes, MaxEWSBodyBytes: l.MaxEWSBodyBytes,
		HeaderTimeout: time.Duration(l.HeaderTimeout), IdleTimeout: time.Duration(l.IdleTimeout),
		RequestTimeout: time.Duration(l.RequestTimeout), UpstreamTimeout: time.Duration(l.UpstreamTimeout),
		MaxConnsPerClient:   l.MaxConnsPerClient,
		HandshakesPerSecond: l.HandshakesPerSecond, HandshakeAuditInterval: time.Duration(l.HandshakeAuditInterval),
		EWSItemIDs: l.EWSItemIDs,
	}
}
