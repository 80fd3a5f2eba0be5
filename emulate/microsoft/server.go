package microsoft

import (
	"crypto/x509"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

// Host names the emulator answers for.
const (
	LoginHost = "login.microsoftonline.com"
	GraphHost = "graph.microsoft.com"
	// GraphScope is the only scope the client-credentials grant accepts here.
	GraphScope = "https://graph.microsoft.com/.default"
)

// Options configures a Server. Zero values take the documented defaults.
type Options struct {
	// Clock drives token expiry, assertion validity, rate windows and
	// delta-token expiry; nil means the wall clock.
	Clock clock.Clock
	// TokenLifetime is the access-token lifetime (default 3600 s, the
	// expires_in Entra returns for app tokens).
	TokenLifetime time.Duration
	// RateLimit requests per RateWindow per app and mailbox (default 10,000
	// per 10 minutes, the Outlook service limit).
	RateLimit  int
	RateWindow time.Duration
	// MaxConcurrent requests in flight per app and mailbox (default 4).
	MaxConcurrent int
	// DeltaTokenTTL is how long a delta token (sync state) stays usable
	// (default 7 days); after it a delta call answers 410.
	DeltaTokenTTL time.Duration
	// DefaultPageSize is the page size when neither $top nor
	// Prefer: odata.maxpagesize is given (default 10, as Graph's Outlook lists).
	DefaultPageSize int
	// Seed makes the 5xx fault injection reproducible.
	Seed uint64
}

// Faults are switches tests and the demo turn on.
type Faults struct {
	// Latency is added to every request (token and Graph) before it is served.
	Latency time.Duration `json:"latency,omitempty"`
	// ErrorRate in [0,1] is the share of Graph calls answered 503.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// Throttle answers every Graph call with 429 and Retry-After.
	Throttle bool `json:"throttle,omitempty"`
	// RetryAfter is the Retry-After (seconds) of forced throttling (default 1).
	RetryAfter int `json:"retryAfter,omitempty"`
}

// Server is the emulator of login.microsoftonline.com and graph.microsoft.com.
// It is safe for concurrent use.
type Server struct {
	opts  Options
	clock clock.Clock

	mu       sync.Mutex
	tenants  map[string]*tenant // by id
	domains  map[string]string  // lower-case domain -> tenant id
	apps     map[string]*app    // by client id
	users    map[string]*user   // by id (lower-case)
	upns     map[string]string  // lower-case UPN -> user id
	tokens   map[string]*accessToken
	jtis     map[string]time.Time // client id + "\x00" + jti -> assertion expiry
	states   map[string]*syncState
	rounds   map[string]*deltaRound
	rate     map[string]*rateBucket
	inflight map[string]int
	faults   Faults
	rng      *rand.Rand

	// Table sizes at which the next pruning pass runs.
	tokenPruneAt, jtiPruneAt, deltaPruneAt int

	// hold, when set by tests, runs while a Graph request holds its
	// concurrency slot, so concurrency limits are tested without timing.
	hold func()
}

type tenant struct {
	ID      string   `json:"id"`
	Domains []string `json:"domains,omitempty"`
}

type app struct {
	tenantID    string
	clientID    string
	secretHash  []byte // sha256 of the secret; nil when the app has no secret
	certs       []*x509.Certificate
	permissions map[string]bool // nil: every permission granted
}

type accessToken struct {
	tenantID string
	clientID string
	expires  time.Time
	revoked  bool
}

type rateBucket struct {
	start time.Time
	count int
}

// pruneFloor is the table size below which expired entries are not swept.
const pruneFloor = 1024

// New returns an empty emulator; seed it with AddTenant, AddApp, AddUser.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = time.Hour
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 10000
	}
	if o.RateWindow <= 0 {
		o.RateWindow = 10 * time.Minute
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.DeltaTokenTTL <= 0 {
		o.DeltaTokenTTL = 7 * 24 * time.Hour
	}
	if o.DefaultPageSize <= 0 {
		o.DefaultPageSize = 10
	}
	return &Server{
		opts:     o,
		clock:    o.Clock,
		tenants:  map[string]*tenant{},
		domains:  map[string]string{},
		apps:     map[string]*app{},
		users:    map[string]*user{},
		upns:     map[string]string{},
		tokens:   map[string]*accessToken{},
		jtis:     map[string]time.Time{},
		states:   map[string]*syncState{},
		rounds:   map[string]*deltaRound{},
		rate:     map[string]*rateBucket{},
		inflight: map[string]int{},
		rng:      rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed)),

		tokenPruneAt: pruneFloor, jtiPruneAt: pruneFloor, deltaPruneAt: pruneFloor,
	}
}

// Hosts returns the real host names the emulator serves.
func (s *Server) Hosts() []string { return []string{LoginHost, GraphHost} }

// Handler serves every host of the service, routing on r.Host.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		switch host {
		case LoginHost:
			s.sleepLatency(r)
			s.serveLogin(w, r)
		case GraphHost:
			s.serveGraph(w, r)
		default:
			http.Error(w, "unknown host", http.StatusNotFound)
		}
	})
}

// SetFaults replaces the fault switches.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// CurrentFaults returns the fault switches.
func (s *Server) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// ExpireAllTokens makes every issued access token invalid, as if it had
// expired; clients must fetch new ones.
func (s *Server) ExpireAllTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = true
	}
}

// InvalidateDeltaTokens drops every sync state and paging round, so every
// outstanding deltaLink and nextLink answers 410 and clients resync.
func (s *Server) InvalidateDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = map[string]*syncState{}
	s.rounds = map[string]*deltaRound{}
}

// sleepLatency waits the configured latency, or until the client gives up.
// It is real time on purpose: latency is about the wire, not the fake clock.
func (s *Server) sleepLatency(r *http.Request) {
	s.mu.Lock()
	d := s.faults.Latency
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}
