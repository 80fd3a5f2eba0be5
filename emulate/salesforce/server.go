package salesforce

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

// Host names the emulator answers for besides the configurable instance host.
const (
	LoginHost = "login.salesforce.com"
	TestHost  = "test.salesforce.com"
)

// Options configures a Server. Zero values pick documented defaults.
type Options struct {
	// Clock drives session expiry, record timestamps and the API-usage
	// window; nil means the wall clock.
	Clock clock.Clock
	// InstanceHost is the org's My Domain host (default corp.my.salesforce.com).
	InstanceHost string
	// SessionTTL is how long an access token lives (default 2h, Salesforce's
	// default session timeout).
	SessionTTL time.Duration
	// APIDailyLimit is the rolling 24h REST call allocation (default 100000).
	APIDailyLimit int
	// ExternalIDFields names the external-id field per object usable for
	// upsert (default Syncgate_Id__c on every supported object).
	ExternalIDFields map[string]string
	// MaxAssertionLifetime bounds how far in the future a JWT assertion's exp
	// may be (default 3 minutes, as Salesforce documents).
	MaxAssertionLifetime time.Duration
	// OrgID is the 18-character organisation id (generated when empty).
	OrgID string
	// TimeZone is the org's default time zone, which SOQL date literals
	// (TODAY, LAST_N_DAYS:n, ...) count days in (default UTC).
	TimeZone *time.Location
}

// Server is an in-memory Salesforce org: OAuth token endpoint plus the REST
// data API subset the sync engine uses. Safe for concurrent use.
type Server struct {
	clk          clock.Clock
	instanceHost string
	sessionTTL   time.Duration
	maxAssertion time.Duration
	orgID        string
	loc          *time.Location

	// tx serialises the composite resource (whose allOrNone rolls back
	// several requests) against every other data request.
	tx sync.RWMutex

	mu        sync.Mutex
	apps      map[string]*ConnectedApp // by consumer key
	users     map[string]*User         // by lower-case username
	usersByID map[string]*User
	sessions  map[string]*session
	objects   map[string]*objectStore
	extID     map[string]string
	locators  map[string]*queryLocator
	seq       uint64
	apiLimit  int
	apiUsed   int
	apiWindow time.Time
	faults    Faults
}

type session struct {
	user    *User
	expires time.Time
}

// Faults are switches tests flip to exercise failure handling.
type Faults struct {
	// Latency delays every request (token and data) by this much.
	Latency time.Duration
	// Fail5xx makes the next N data/token requests fail with Status5xx.
	Fail5xx int
	// Status5xx is the status used by Fail5xx (default 503).
	Status5xx int
}

// New returns an empty org; seed it with AddConnectedApp, AddUser and Seed.
func New(o Options) *Server {
	s := &Server{
		clk:          o.Clock,
		instanceHost: strings.ToLower(o.InstanceHost),
		sessionTTL:   o.SessionTTL,
		maxAssertion: o.MaxAssertionLifetime,
		orgID:        o.OrgID,
		apps:         map[string]*ConnectedApp{},
		users:        map[string]*User{},
		usersByID:    map[string]*User{},
		sessions:     map[string]*session{},
		objects:      map[string]*objectStore{},
		extID:        map[string]string{},
		locators:     map[string]*queryLocator{},
		apiLimit:     o.APIDailyLimit,
		loc:          o.TimeZone,
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.instanceHost == "" {
		s.instanceHost = "corp.my.salesforce.com"
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = 2 * time.Hour
	}
	if s.maxAssertion <= 0 {
		s.maxAssertion = 3 * time.Minute
	}
	if s.apiLimit <= 0 {
		s.apiLimit = 100000
	}
	if s.orgID == "" {
		s.orgID = s.newIDLocked("00D")
	}
	for key, sc := range schemas {
		s.objects[key] = &objectStore{records: map[string]*record{}}
		if sc.fields["syncgate_id__c"] != nil {
			s.extID[sc.name] = "Syncgate_Id__c"
		}
	}
	for obj, f := range o.ExternalIDFields {
		if sc, ok := schemaFor(obj); ok {
			s.extID[sc.name] = f
		}
	}
	s.apiWindow = s.clk.Now()
	return s
}

// Hosts returns the real host names this emulator serves.
func (s *Server) Hosts() []string {
	return []string{LoginHost, TestHost, s.instanceHost}
}

// InstanceURL is the https URL of the org's instance host.
func (s *Server) InstanceURL() string { return "https://" + s.instanceHost }

// Handler serves every Salesforce host, routing on r.Host.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := stripPort(r.Host)
		if !s.applyFaults(w, r) {
			return
		}
		switch {
		case r.URL.Path == "/services/oauth2/token" && (host == LoginHost || host == TestHost || host == s.instanceHost):
			s.serveToken(w, r, host)
		case r.URL.Path == "/services/oauth2/userinfo" && (host == LoginHost || host == TestHost || host == s.instanceHost):
			s.serveUserInfo(w, r)
		case host == s.instanceHost && strings.HasPrefix(r.URL.Path, "/services/data/"):
			s.serveData(w, r)
		default:
			writeErrors(w, http.StatusNotFound, apiError{Message: "The requested resource does not exist", ErrorCode: "NOT_FOUND"})
		}
	})
}

func stripPort(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// applyFaults injects latency and 5xx; it reports whether to continue.
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := s.faults
	fail := false
	if s.faults.Fail5xx > 0 {
		s.faults.Fail5xx--
		fail = true
	}
	s.mu.Unlock()
	if f.Latency > 0 {
		if !sleepCtx(r.Context(), f.Latency) {
			return false
		}
	}
	if fail {
		st := f.Status5xx
		if st < 500 || st > 599 {
			st = http.StatusServiceUnavailable
		}
		writeErrors(w, st, apiError{Message: "Server temporarily unavailable", ErrorCode: "SERVER_UNAVAILABLE"})
		return false
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// apiError is one element of Salesforce's error array body.
type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	writeJSON(w, status, errs)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("salesforce emulator: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
