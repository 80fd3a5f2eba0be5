package ews

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

// Path is where Exchange serves EWS.
const Path = "/EWS/Exchange.asmx"

// Options configures a Server; zero values pick defaults.
type Options struct {
	// Clock drives ChangeKeys' timestamps and the rate window; nil = real.
	Clock clock.Clock
	// Host is the on-premises CAS host name (default mail.corp.example).
	Host string
	// RateLimit is how many requests each service account may make per
	// RateWindow before getting ErrorServerBusy (0 = unlimited).
	RateLimit  int
	RateWindow time.Duration // default 1 minute
	// MaxRequestBytes bounds a request body (default 4 MiB).
	MaxRequestBytes int64
}

// Server is an in-memory Exchange 2016 mailbox server speaking the EWS
// subset syncgate uses. Safe for concurrent use.
type Server struct {
	clk      clock.Clock
	host     string
	rate     int
	window   time.Duration
	maxBytes int64
	stateKey []byte // authenticates SyncState blobs

	mu          sync.Mutex
	accounts    map[string]*account // by lower-case username
	mailboxes   map[string]*mailbox // by lower-case smtp address
	itemsByID   map[string]*item
	seq         uint64
	generation  uint64 // bumped to invalidate every sync state
	faults      Faults
	invitations []Invitation
}

type account struct {
	username, password string
	impersonateAll     bool
	grants             map[string]bool // lower-case smtp addresses
	windowStart        time.Time
	used               int
}

// Faults are switches tests flip.
type Faults struct {
	// Latency delays every request.
	Latency time.Duration
	// ServerBusy makes the next N authenticated requests fail with
	// ErrorServerBusy, advising BackOff.
	ServerBusy int
	BackOff    time.Duration // default 5s
	// ServerBusyOp, when set, limits ServerBusy to requests of that
	// operation (e.g. "UpdateItem"); with ServerBusyOccurrences, to those
	// that name an occurrence (t:OccurrenceItemId).
	ServerBusyOp          string
	ServerBusyOccurrences bool
}

// New returns an empty server; seed it with AddServiceAccount, AddMailbox,
// GrantImpersonation and AddContact / AddCalendarItem.
func New(o Options) *Server {
	s := &Server{
		clk: o.Clock, host: strings.ToLower(o.Host), rate: o.RateLimit, window: o.RateWindow, maxBytes: o.MaxRequestBytes,
		accounts: map[string]*account{}, mailboxes: map[string]*mailbox{}, itemsByID: map[string]*item{},
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.host == "" {
		s.host = "mail.corp.example"
	}
	if s.window <= 0 {
		s.window = time.Minute
	}
	if s.maxBytes <= 0 {
		s.maxBytes = 4 << 20
	}
	s.stateKey = make([]byte, 32)
	if _, err := rand.Read(s.stateKey); err != nil {
		panic("ews emulator: crypto/rand failed: " + err.Error())
	}
	return s
}

// Hosts returns the host names this emulator answers for.
func (s *Server) Hosts() []string { return []string{s.host} }

// URL is the EWS endpoint URL.
func (s *Server) URL() string { return "https://" + s.host + Path }

// Handler serves EWS on the configured host.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func stripPort(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if stripPort(r.Host) != s.host || !strings.EqualFold(r.URL.Path, Path) {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	lat := s.faults.Latency
	s.mu.Unlock()
	if lat > 0 && !sleepCtx(r.Context(), lat) {
		return
	}
	acct := s.authenticate(r)
	if acct == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+s.host+`"`)
		http.Error(w, "401 - Unauthorized: Access is denied due to invalid credentials.", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if busy, backoff := s.throttle(acct); busy {
		writeFault(w, "ErrorServerBusy", "The server cannot service this request right now. Try again later.",
			[][2]string{{"BackOffMilliseconds", strconv.FormatInt(backoff.Milliseconds(), 10)}})
		return
	}
	req, err := ParseRequest(r.Body, s.maxBytes)
	if errors.Is(err, ErrTooLarge) {
		http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		writeFault(w, "ErrorSchemaValidation", "The request failed schema validation: "+err.Error(), nil)
		return
	}
	if busy, backoff := s.busyFor(req); busy {
		writeFault(w, "ErrorServerBusy", "The server cannot service this request right now. Try again later.",
			[][2]string{{"BackOffMilliseconds", strconv.FormatInt(backoff.Milliseconds(), 10)}})
		return
	}
	s.dispatch(w, acct, req)
}

// busyFor applies a ServerBusy fault aimed at one operation.
func (s *Server) busyFor(req *Request) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.ServerBusy <= 0 || f.ServerBusyOp == "" || f.ServerBusyOp != req.Operation {
		return false, 0
	}
	if f.ServerBusyOccurrences {
		occ := false
		req.Body.Walk(func(n *Node) { occ = occ || n.Space == NSTypes && n.Local == "OccurrenceItemId" })
		if !occ {
			return false, 0
		}
	}
	f.ServerBusy--
	b := f.BackOff
	if b <= 0 {
		b = 5 * time.Second
	}
	return true, b
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

func (s *Server) authenticate(r *http.Request) *account {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil
	}
	s.mu.Lock()
	a := s.accounts[strings.ToLower(user)]
	s.mu.Unlock()
	// Compare MACs so the check takes the same time whatever the password.
	var want string
	if a != nil {
		want = a.password
	}
	k := []byte("ews-basic")
	m1 := hmac.New(sha256.New, k)
	m1.Write([]byte(pass))
	m2 := hmac.New(sha256.New, k)
	m2.Write([]byte(want))
	if a == nil || subtle.ConstantTimeCompare(m1.Sum(nil), m2.Sum(nil)) != 1 {
		return nil
	}
	return a
}

// throttle applies the injected ServerBusy fault and the per-account budget.
func (s *Server) throttle(a *account) (bool, time.Duration) {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.ServerBusy > 0 && s.faults.ServerBusyOp == "" {
		s.faults.ServerBusy--
		b := s.faults.BackOff
		if b <= 0 {
			b = 5 * time.Second
		}
		return true, b
	}
	if s.rate <= 0 {
		return false, 0
	}
	if now.Sub(a.windowStart) >= s.window {
		a.windowStart, a.used = now, 0
	}
	if a.used >= s.rate {
		return true, a.windowStart.Add(s.window).Sub(now)
	}
	a.used++
	return false, 0
}

// ---- response writing ----

type xw struct{ b strings.Builder }

func (w *xw) raw(s string) { w.b.WriteString(s) }

func (w *xw) tag(name string, selfClose bool, attrs []string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b.WriteByte(' ')
		w.b.WriteString(attrs[i])
		w.b.WriteString(`="`)
		_ = xml.EscapeText(&w.b, []byte(attrs[i+1]))
		w.b.WriteByte('"')
	}
	if selfClose {
		w.b.WriteByte('/')
	}
	w.b.WriteByte('>')
}

func (w *xw) open(name string, attrs ...string) { w.tag(name, false, attrs) }

func (w *xw) empty(name string, attrs ...string) { w.tag(name, true, attrs) }

func (w *xw) close(name string) { w.b.WriteString("</" + name + ">") }

func (w *xw) elem(name, text string, attrs ...string) {
	w.open(name, attrs...)
	_ = xml.EscapeText(&w.b, []byte(text))
	w.close(name)
}

const serverVersionInfo = `<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="` + NSTypes + `" xmlns="` + NSTypes + `" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`

func writeEnvelope(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + NSSoap + `"><s:Header>` + serverVersionInfo + `</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` + body + `</s:Body></s:Envelope>`))
}

// writeFault writes an HTTP 500 SOAP fault carrying an EWS response code,
// the way Exchange reports schema, impersonation and throttling failures.
func writeFault(w http.ResponseWriter, code, msg string, values [][2]string) {
	var x xw
	x.open("s:Fault")
	x.elem("faultcode", "a:"+code, "xmlns:a", NSTypes)
	x.elem("faultstring", msg, "xml:lang", "en-US")
	x.open("detail")
	x.elem("e:ResponseCode", code, "xmlns:e", NSErrors)
	x.elem("e:Message", msg, "xmlns:e", NSErrors)
	if len(values) > 0 {
		x.open("t:MessageXml", "xmlns:t", NSTypes)
		for _, v := range values {
			x.elem("t:Value", v[1], "Name", v[0])
		}
		x.close("t:MessageXml")
	}
	x.close("detail")
	x.close("s:Fault")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + NSSoap + `"><s:Body>` + x.b.String() + `</s:Body></s:Envelope>`))
}
