package emulate

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
	"github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/emulate/salesforce"
	emuvault "github.com/syncgate/syncgate/emulate/vault"
)

// Defaults for Options.
const (
	DefaultDomain             = "corp.example"
	DefaultSalesforceInstance = "corp.my.salesforce.com"
	DefaultEWSHost            = "mail.corp.example"
	// VaultHost is the name the Vault emulator answers under. Vault has no
	// public host of its own, so the emulator picks a name that cannot
	// collide with a real one (.local is reserved for mDNS).
	VaultHost = "vault.emulator.local"
	// AdminPrefix is where the admin API lives, on the loopback host names.
	AdminPrefix = "/_emulator/"
)

// Service names, as used under AdminPrefix.
const (
	ServiceMicrosoft  = "microsoft"
	ServiceGoogle     = "google"
	ServiceEWS        = "ews"
	ServiceSalesforce = "salesforce"
	ServiceVault      = "vault"
)

// Options configures a Set. Zero values take the defaults above.
type Options struct {
	// Clock drives every emulator; nil is the wall clock. A *clock.Fake
	// also enables POST /_emulator/clock/advance.
	Clock clock.Clock
	// SalesforceInstance is the org's My Domain host.
	SalesforceInstance string
	// EWSHost is the on-premises Exchange CAS host.
	EWSHost string
	// Domain is the mail domain of the demo users and the Google Workspace
	// domain that domain-wide delegation may impersonate.
	Domain string
}

// Set is every emulator behind one handler. Safe for concurrent use.
type Set struct {
	Microsoft  *microsoft.Server
	Google     *google.Server
	EWS        *ews.Server
	Salesforce *salesforce.Server
	Vault      *emuvault.Emulator

	clk        clock.Clock
	fake       *clock.Fake // nil unless Options.Clock is a fake
	domain     string
	vaultToken string // the Vault emulator's root token; only SeedDemo writes it out

	routes   map[string]http.Handler // lower-case host -> service handler
	services []serviceInfo           // sorted by name

	seedMu sync.Mutex
	seeded bool
}

type serviceInfo struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	Admin string   `json:"admin"`
	admin http.Handler
}

// New builds the emulators, empty; SeedDemo fills them.
func New(o Options) *Set {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Domain == "" {
		o.Domain = DefaultDomain
	}
	if o.SalesforceInstance == "" {
		o.SalesforceInstance = DefaultSalesforceInstance
	}
	if o.EWSHost == "" {
		o.EWSHost = DefaultEWSHost
	}
	// The root token is random so that nothing reachable on the listener
	// answers to Vault's well-known dev token "root".
	tok := "hvs.emu-" + randomHex(24)
	s := &Set{
		Microsoft:  microsoft.New(microsoft.Options{Clock: o.Clock}),
		Google:     google.New(google.Options{Clock: o.Clock, Domain: o.Domain}),
		EWS:        ews.New(ews.Options{Clock: o.Clock, Host: o.EWSHost}),
		Salesforce: salesforce.New(salesforce.Options{Clock: o.Clock, InstanceHost: o.SalesforceInstance}),
		Vault:      emuvault.New(emuvault.Options{Clock: o.Clock, RootToken: tok}),
		clk:        o.Clock,
		domain:     strings.ToLower(o.Domain),
		vaultToken: tok,
		routes:     map[string]http.Handler{},
	}
	s.fake, _ = o.Clock.(*clock.Fake)
	add := func(name string, hosts []string, h, admin http.Handler) {
		for _, host := range hosts {
			s.routes[normHost(host)] = h
		}
		hs := append([]string(nil), hosts...)
		sort.Strings(hs)
		s.services = append(s.services, serviceInfo{Name: name, Hosts: hs, Admin: AdminPrefix + name + "/", admin: admin})
	}
	add(ServiceMicrosoft, s.Microsoft.Hosts(), s.Microsoft.Handler(), s.Microsoft.Admin())
	add(ServiceGoogle, s.Google.Hosts(), s.Google.Handler(), s.Google.Admin())
	add(ServiceEWS, s.EWS.Hosts(), s.EWS.Handler(), s.EWS.Admin())
	add(ServiceSalesforce, s.Salesforce.Hosts(), s.Salesforce.Handler(), s.Salesforce.Admin())
	add(ServiceVault, []string{VaultHost}, s.Vault, s.vaultAdmin())
	sort.Slice(s.services, func(i, j int) bool { return s.services[i].Name < s.services[j].Name })
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("emulate: crypto/rand: %v", err)) // does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// Hosts returns every real host name served, sorted.
func (s *Set) Hosts() []string {
	out := make([]string, 0, len(s.routes))
	for h := range s.routes {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Domain is the demo users' mail domain.
func (s *Set) Domain() string { return s.domain }

// Now is the emulators' time.
func (s *Set) Now() time.Time { return s.clk.Now() }

// normHost lower-cases a Host header value and drops the port and a
// trailing dot, so "Graph.Microsoft.com.:443" routes like graph.microsoft.com.
func normHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// isLoopbackHost tells whether a request was addressed to the listener by a
// loopback name rather than by a service's host name.
func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackRemote decides on r.RemoteAddr; anything it cannot parse is
// not loopback, so the admin check fails closed.
func isLoopbackRemote(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isAdminPath(p string) bool {
	return p == strings.TrimSuffix(AdminPrefix, "/") || strings.HasPrefix(p, AdminPrefix)
}

// Handler routes by Host to the service emulators. Requests addressed to a
// loopback name (localhost, 127.0.0.1, ::1) reach the admin API under
// /_emulator/ and the Vault API under /v1/ (so VAULT_ADDR can be the
// listener's address). The admin API answers loopback clients only, and
// only on loopback names: a gateway forwarding to graph.microsoft.com from
// this machine cannot reach it through a service host.
func (s *Set) Handler() http.Handler {
	admin := s.adminHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Decide on the admin path first, whatever the Host, so a
		// non-loopback client always sees 403 and learns nothing more.
		if isAdminPath(r.URL.Path) && !isLoopbackRemote(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "reason": "the emulator admin API answers loopback clients only"})
			return
		}
		host := normHost(r.Host)
		if h, ok := s.routes[host]; ok {
			h.ServeHTTP(w, r)
			return
		}
		if isLoopbackHost(host) {
			switch {
			case isAdminPath(r.URL.Path):
				admin.ServeHTTP(w, r)
			case strings.HasPrefix(r.URL.Path, "/v1/"):
				s.Vault.ServeHTTP(w, r)
			default:
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "reason": "on a loopback name only " + AdminPrefix + " and the Vault API /v1/ are served; use a service host name"})
			}
			return
		}
		writeJSON(w, http.StatusMisdirectedRequest, map[string]any{
			"error":  "misdirected_request",
			"reason": "this emulator does not serve that host",
			"host":   truncate(host, 100),
			"hosts":  s.Hosts(),
		})
	})
}

func truncate(v string, n int) string {
	if len(v) > n {
		return v[:n] + "…"
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// adminHandler serves /_emulator/ for loopback clients (checked again here
// so the handler is safe however it is mounted):
//
//	GET  /_emulator/                 services, their hosts and admin prefixes, the clock
//	GET  /_emulator/clock            {"now","fake"}
//	POST /_emulator/clock/advance    {"seconds": N}   (only with a fake clock; 409 otherwise)
//	*    /_emulator/<service>/...    the service's own Admin(), prefix stripped
func (s *Set) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminPrefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"services": s.services, "hosts": s.Hosts(),
			"clock": s.clockState(), "vault_on_loopback": "/v1/",
		})
	})
	mux.HandleFunc("GET "+AdminPrefix+"clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.clockState())
	})
	mux.HandleFunc("POST "+AdminPrefix+"clock/advance", s.serveAdvance)
	for _, sv := range s.services {
		prefix := AdminPrefix + sv.Name
		mux.Handle(prefix+"/", http.StripPrefix(prefix, sv.admin))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackRemote(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "reason": "the emulator admin API answers loopback clients only"})
			return
		}
		if r.URL.Path == strings.TrimSuffix(AdminPrefix, "/") {
			r.URL.Path = AdminPrefix
		}
		h, pattern := mux.Handler(r)
		if pattern == "" {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "not_found", "reason": "no such admin endpoint; GET " + AdminPrefix + " lists them"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Set) clockState() map[string]any {
	return map[string]any{"now": s.clk.Now().UTC().Format(time.RFC3339Nano), "fake": s.fake != nil}
}

// maxAdvance bounds one clock step; beyond it a typo, not a test, is likelier.
const maxAdvance = 10 * 365 * 24 * time.Hour

func (s *Set) serveAdvance(w http.ResponseWriter, r *http.Request) {
	if s.fake == nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "conflict", "reason": "the emulators run on the wall clock; start them with a fake clock (--fake-clock)"})
		return
	}
	var in struct {
		Seconds *float64 `json:"seconds"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err == nil {
		d := json.NewDecoder(strings.NewReader(string(body)))
		d.DisallowUnknownFields()
		err = d.Decode(&in)
	}
	if err != nil || in.Seconds == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "reason": `body must be {"seconds": N}`})
		return
	}
	step := time.Duration(*in.Seconds * float64(time.Second))
	if *in.Seconds <= 0 || step <= 0 || step > maxAdvance {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "reason": "seconds must be > 0 and at most ten years; the clock only moves forward"})
		return
	}
	s.fake.Advance(step)
	writeJSON(w, http.StatusOK, s.clockState())
}

// vaultAdmin is the admin API for the Vault emulator, which has none of its
// own:
//
//	GET /state     {"live_tokens": n, "host": VaultHost}
//	PUT /faults    {"down": bool, "latency_ms": n}
func (s *Set) vaultAdmin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"live_tokens": s.Vault.LiveTokens(), "host": VaultHost})
	})
	mux.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Down      bool `json:"down"`
			LatencyMS int  `json:"latency_ms"`
		}
		d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		d.DisallowUnknownFields()
		if err := d.Decode(&in); err != nil || in.LatencyMS < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "reason": `body must be {"down": bool, "latency_ms": n >= 0}`})
			return
		}
		s.Vault.SetDown(in.Down)
		s.Vault.SetLatency(time.Duration(in.LatencyMS) * time.Millisecond)
		writeJSON(w, http.StatusOK, in)
	})
	return mux
}

// Serve answers TLS connections on ln with cert until ctx ends, then shuts
// down gracefully (5 s) and returns nil. Any other end is an error.
func (s *Set) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close()
			}
		case <-done:
		}
	}()
	err := srv.ServeTLS(ln, "", "")
	close(done)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("emulate: serve: %w", err)
}
