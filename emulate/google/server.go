package google

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // recurring events expand in IANA zones even on images without zoneinfo

	"github.com/syncgate/syncgate/emulate/clock"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/people/v1"
)

// The real host names the emulator answers for.
const (
	HostOAuth  = "oauth2.googleapis.com"
	HostAPIs   = "www.googleapis.com"
	HostPeople = "people.googleapis.com"
	TokenURL   = "https://" + HostOAuth + "/token"
	// TokenURLV4 is the older token endpoint Google still serves, which
	// Google's Node auth library (gtoken) posts to with itself as the
	// audience. Either endpoint accepts either audience.
	TokenURLV4   = "https://" + HostAPIs + "/oauth2/v4/token"
	CalendarBase = "https://" + HostAPIs + "/calendar/v3/"
	PeopleBase   = "https://" + HostPeople + "/"
)

// OAuth scopes the emulated APIs check.
const (
	ScopeCalendar               = "https://www.googleapis.com/auth/calendar"
	ScopeCalendarReadonly       = "https://www.googleapis.com/auth/calendar.readonly"
	ScopeCalendarEvents         = "https://www.googleapis.com/auth/calendar.events"
	ScopeCalendarEventsReadonly = "https://www.googleapis.com/auth/calendar.events.readonly"
	ScopeContacts               = "https://www.googleapis.com/auth/contacts"
	ScopeContactsReadonly       = "https://www.googleapis.com/auth/contacts.readonly"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	Clock clock.Clock // nil = real time
	// Domain is the Workspace domain whose users may be impersonated through
	// domain-wide delegation. Default "corp.example".
	Domain string
	// TokenTTL is the access token lifetime. Default one hour, as Google.
	TokenTTL time.Duration
	// UserRatePerMinute is the per-user request budget (Calendar's default
	// quota is 600 per minute per user). 0 = 600; negative = unlimited.
	UserRatePerMinute int
	// SyncTokenTTL is how long after the full sync a People sync token stays
	// valid. Default 7 days, as documented.
	SyncTokenTTL time.Duration
}

// ServiceAccount is a registered service account: the public half of its key
// and what domain-wide delegation (DWD) grants its client id.
type ServiceAccount struct {
	ClientEmail  string   `json:"client_email"`
	ClientID     string   `json:"client_id"`
	PublicKeyPEM string   `json:"public_key_pem"` // PKIX public key or X.509 certificate, RSA
	KeyID        string   `json:"key_id,omitempty"`
	DWDScopes    []string `json:"dwd_scopes,omitempty"`

	key *rsa.PublicKey
}

// Faults are switches tests flip to make the emulator misbehave.
type Faults struct {
	LatencyMS   int    `json:"latency_ms,omitempty"`   // added before every request
	FailNext    int    `json:"fail_next,omitempty"`    // the next N requests fail with FailStatus
	FailStatus  int    `json:"fail_status,omitempty"`  // 5xx; default 503
	FailService string `json:"fail_service,omitempty"` // "", "oauth", "calendar" or "people"
	RateLimit   int    `json:"rate_limit,omitempty"`   // 403 or 429: throttle every API call; 0 = off
}

// Server is the emulator. Safe for concurrent use.
type Server struct {
	clk       clock.Clock
	ttl       time.Duration
	rate      int
	syncTTL   time.Duration
	tokenKey  []byte
	etagNonce string

	mu       sync.Mutex
	domain   string
	accounts map[string]*ServiceAccount // by client email
	users    map[string]*userData       // by lower-case email
	tokens   map[string]*accessToken    // by SHA-256 of the token
	seq      int64                      // global change sequence
	faults   Faults
	windows  map[string]*rateWindow
}

type accessToken struct {
	Subject string // impersonated user; "" = the service account itself
	Account string
	Scopes  []string
	Expiry  time.Time
}

type rateWindow struct {
	start time.Time
	n     int
}

type userData struct {
	email    string
	events   map[string]*eventRec
	calFloor int64 // calendar sync tokens positioned before this are invalid
	contacts map[string]*contactRec
	writes   []CalendarWrite // API writes to the calendar (notify.go)
	pplFloor int64
	nextID   int
}

type eventRec struct {
	ev  *calendar.Event
	seq int64
}

type contactRec struct {
	p       *people.Person
	seq     int64
	deleted bool
}

// New returns an emulator with no accounts, users or data.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Domain == "" {
		o.Domain = "corp.example"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.UserRatePerMinute == 0 {
		o.UserRatePerMinute = 600
	}
	if o.SyncTokenTTL <= 0 {
		o.SyncTokenTTL = 7 * 24 * time.Hour
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("google emulator: random: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return &Server{
		clk: o.Clock, ttl: o.TokenTTL, rate: o.UserRatePerMinute, syncTTL: o.SyncTokenTTL,
		tokenKey: key, etagNonce: hex.EncodeToString(key[:4]),
		domain:   strings.ToLower(o.Domain),
		accounts: map[string]*ServiceAccount{}, users: map[string]*userData{},
		tokens: map[string]*accessToken{}, windows: map[string]*rateWindow{},
	}
}

// Hosts returns the real host names the Handler serves.
func (s *Server) Hosts() []string { return []string{HostOAuth, HostAPIs, HostPeople} }

// Handler serves every host of the service, routing on r.Host.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var service string
	switch hostOnly(r.Host) {
	case HostOAuth:
		service = "oauth"
	case HostAPIs:
		switch {
		case r.URL.Path == "/oauth2/v4/token":
			service = "oauth"
		case strings.HasPrefix(r.URL.Path, "/calendar/v3/"):
			service = "calendar"
		default:
			writeCalendarError(w, errCalNotFound())
			return
		}
	case HostPeople:
		service = "people"
	default:
		http.Error(w, "404. That's an error. The requested host is not served here.", http.StatusNotFound)
		return
	}
	if !s.delay(r) {
		return
	}
	if code, fail := s.takeFailure(service); fail {
		switch service {
		case "oauth":
			writeJSON(w, code, oauthError{Error: "internal_failure", Description: "Backend Error"})
		case "calendar":
			reason, msg := "backendError", "Backend Error"
			writeCalendarError(w, calErr(code, statusFor(code), "global", reason, msg))
		default:
			writePeopleError(w, peopleErr(code, statusFor(code), "The service is currently unavailable.", ""))
		}
		return
	}
	switch service {
	case "oauth":
		s.serveOAuth(w, r)
	case "calendar":
		s.serveCalendar(w, r)
	default:
		s.servePeople(w, r)
	}
}

// delay applies the latency fault; false when the client went away.
func (s *Server) delay(r *http.Request) bool {
	s.mu.Lock()
	d := time.Duration(s.faults.LatencyMS) * time.Millisecond
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) takeFailure(service string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.FailNext <= 0 || (f.FailService != "" && f.FailService != service) {
		return 0, false
	}
	f.FailNext--
	code := f.FailStatus
	if code < 500 || code > 599 {
		code = http.StatusServiceUnavailable
	}
	return code, true
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// authenticate checks the bearer token and returns its grant. The token is
// looked up by hash and never echoed.
func (s *Server) authenticate(r *http.Request) (*accessToken, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.tokens[hashToken(strings.TrimSpace(tok))]
	if !ok || !s.clk.Now().Before(at.Expiry) {
		return nil, false
	}
	cp := *at
	return &cp, true
}

func (at *accessToken) hasScope(any ...string) bool {
	for _, have := range at.Scopes {
		for _, want := range any {
			if have == want {
				return true
			}
		}
	}
	return false
}

// throttled reports whether the caller is over its per-user budget (or the
// rate-limit fault is on) and which status to answer with.
func (s *Server) throttled(at *accessToken) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.RateLimit == 403 || s.faults.RateLimit == 429 {
		return s.faults.RateLimit, true
	}
	if s.rate < 0 {
		return 0, false
	}
	who := at.Subject
	if who == "" {
		who = at.Account
	}
	now := s.clk.Now()
	win := s.windows[who]
	if win == nil || now.Sub(win.start) >= time.Minute || now.Before(win.start) {
		win = &rateWindow{start: now}
		s.windows[who] = win
	}
	win.n++
	if win.n > s.rate {
		return 403, true
	}
	return 0, false
}

func (s *Server) nextSeq() int64 {
	s.seq++
	return s.seq
}

// ---- seeding and inspection (Go API; the admin handler calls these) ----

// SetDomain changes the Workspace domain.
func (s *Server) SetDomain(domain string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.domain = strings.ToLower(strings.TrimSpace(domain))
}

// Domain returns the Workspace domain.
func (s *Server) Domain() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.domain
}

func parseRSAPublicKey(p string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errors.New("public_key_pem: no PEM block")
	}
	var pub any
	var err error
	switch block.Type {
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = c.PublicKey
		}
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("public_key_pem: unsupported PEM type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("public_key_pem: %w", err)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("public_key_pem: service account keys are RSA")
	}
	return k, nil
}

// AddServiceAccount registers (or replaces) a service account.
func (s *Server) AddServiceAccount(sa ServiceAccount) error {
	sa.ClientEmail = strings.TrimSpace(sa.ClientEmail)
	if sa.ClientEmail == "" || !strings.Contains(sa.ClientEmail, "@") {
		return errors.New("service account: client_email is required")
	}
	if sa.ClientID == "" {
		return errors.New("service account: client_id is required")
	}
	k, err := parseRSAPublicKey(sa.PublicKeyPEM)
	if err != nil {
		return fmt.Errorf("service account %s: %w", sa.ClientEmail, err)
	}
	sa.key = k
	sa.DWDScopes = append([]string(nil), sa.DWDScopes...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[sa.ClientEmail] = &sa
	return nil
}

// ServiceAccounts lists the registered accounts.
func (s *Server) ServiceAccounts() []ServiceAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceAccount, 0, len(s.accounts))
	for _, sa := range s.accounts {
		cp := *sa
		cp.key = nil
		cp.DWDScopes = append([]string(nil), sa.DWDScopes...)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientEmail < out[j].ClientEmail })
	return out
}

// AddUser creates a mailbox user (idempotent). Users outside the domain may
// exist but cannot be impersonated.
func (s *Server) AddUser(email string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if _, dom, ok := strings.Cut(email, "@"); !ok || dom == "" || strings.ContainsAny(email, " /?#") {
		return fmt.Errorf("user %q: not an email address", email)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[email] == nil {
		s.users[email] = &userData{email: email, events: map[string]*eventRec{}, contacts: map[string]*contactRec{}}
	}
	return nil
}

// Users lists user emails.
func (s *Server) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.users))
	for e := range s.users {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// SetFaults replaces the fault switches.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the current fault switches.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// ExpireTokens makes every access token issued so far invalid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	for _, t := range s.tokens {
		t.Expiry = now
	}
}

// InvalidateSyncTokens invalidates the Calendar and People sync tokens (and
// page tokens of incremental syncs) issued so far to user, or to every user
// when user is "". Calendar then answers 410 fullSyncRequired, People
// 400 FAILED_PRECONDITION EXPIRED_SYNC_TOKEN.
func (s *Server) InvalidateSyncTokens(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	floor := s.nextSeq()
	if user == "" {
		for _, u := range s.users {
			u.calFloor, u.pplFloor = floor, floor
		}
		return nil
	}
	u := s.users[strings.ToLower(user)]
	if u == nil {
		return fmt.Errorf("user %q: not found", user)
	}
	u.calFloor, u.pplFloor = floor, floor
	return nil
}

// IssueToken mints an access token without the JWT exchange, for callers
// that test something other than OAuth. subject "" means the service account.
func (s *Server) IssueToken(account, subject string, scopes []string) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(account, strings.ToLower(subject), scopes)
}

func (s *Server) issueLocked(account, subject string, scopes []string) (string, time.Time) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("google emulator: random: %v", err))
	}
	tok := "ya29.emu-" + hex.EncodeToString(b)
	exp := s.clk.Now().Add(s.ttl)
	s.tokens[hashToken(tok)] = &accessToken{Subject: subject, Account: account, Scopes: append([]string(nil), scopes...), Expiry: exp}
	return tok, exp
}

func (s *Server) userLocked(email string) *userData {
	return s.users[strings.ToLower(email)]
}
