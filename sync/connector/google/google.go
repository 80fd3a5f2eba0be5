package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// Google's public endpoints (the client libraries' defaults).
const (
	DefaultCalendarEndpoint = "https://www.googleapis.com/calendar/v3/"
	DefaultPeopleEndpoint   = "https://people.googleapis.com/"
)

// KeyProperty is the name under which syncgate's idempotency key is stored:
// a private extended property of events (extendedProperties.private) and a
// clientData entry of contacts. Changing it would orphan every key written.
const KeyProperty = "syncgateKey"

// SelectedProperty is the private extended property a user (or an add-on,
// or a script) sets to "true" on an event to select it for syncing; see
// Options.SelectedCategory.
const SelectedProperty = "syncgateSelected"

// DefaultSelectedCategory is the category a selected event carries, the
// default of the engine's events.category setting.
const DefaultSelectedCategory = "Salesforce"

// primary is the acting user's own calendar (the gateway impersonates the
// user through domain-wide delegation, so "primary" is theirs).
const primary = "primary"

// Options configures a Connector. Zero values take the defaults.
type Options struct {
	// CalendarEndpoint and PeopleEndpoint are the APIs' base URLs, default
	// DefaultCalendarEndpoint and DefaultPeopleEndpoint; a test points them
	// at an emulator. They must be https.
	CalendarEndpoint string
	PeopleEndpoint   string
	// PageSize is events.list maxResults (at most 2500) and
	// connections.list pageSize (at most 1000). Default 250.
	PageSize int
	// MaxPages bounds one listing (default 100,000): a server that never
	// ends a listing is an error, not an endless loop.
	MaxPages int
	// SelectedCategory is put into model.Event.Categories of an event that
	// carries the private extended property SelectedProperty = "true" (or
	// the colour SelectedColorID): the engine's "selected events" marker.
	// Default DefaultSelectedCategory. Set it to the category of the
	// engine's settings.
	SelectedCategory string
	// SelectedColorID, when not "", also marks events of that colorId
	// (Google's event colours "1".."11") as selected.
	SelectedColorID string
	// Series reads and writes event series as one item each
	// (connector.SeriesCapable; see series.go).
	Series bool
}

// Connector reads and writes one Google Workspace user's contacts (People
// API "My Contacts") and primary calendar events (Calendar API v3) through
// the gateway.
type Connector struct {
	cal      *calendar.Service
	ppl      *people.Service
	pageSize int
	maxPages int
	selCat   string
	selColor string
	series   bool

	mu sync.Mutex
	// writers serialises People mutations per user: Google asks that
	// mutate requests for the same user be sent sequentially.
	writers map[string]*sync.Mutex
	// keys caches, per user (userTag), which contact carries which key;
	// see keys.go.
	keys map[string]*keyIndex
}

var _ connector.Connector = (*Connector)(nil)

// New returns a connector that sends every request with hc, which in
// production is the gateway client's (sync/gateway): it routes through the
// syncgate gateway, which injects the user's domain-wide-delegation token.
// The connector holds no credential and never sets Authorization.
func New(hc *http.Client, o Options) (*Connector, error) {
	if hc == nil {
		return nil, errors.New("google: nil HTTP client")
	}
	if o.CalendarEndpoint == "" {
		o.CalendarEndpoint = DefaultCalendarEndpoint
	}
	if o.PeopleEndpoint == "" {
		o.PeopleEndpoint = DefaultPeopleEndpoint
	}
	for _, ep := range []string{o.CalendarEndpoint, o.PeopleEndpoint} {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("google: endpoint %q: want https://host/path/ without query or credentials", ep)
		}
	}
	if o.PageSize <= 0 {
		o.PageSize = 250
	}
	if o.MaxPages <= 0 {
		o.MaxPages = 100000
	}
	if strings.TrimSpace(o.SelectedCategory) == "" {
		o.SelectedCategory = DefaultSelectedCategory
	}
	ctx := context.Background()
	cal, err := calendar.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(withSlash(o.CalendarEndpoint)))
	if err != nil {
		return nil, fmt.Errorf("google: calendar client: %w", err)
	}
	ppl, err := people.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(withSlash(o.PeopleEndpoint)))
	if err != nil {
		return nil, fmt.Errorf("google: people client: %w", err)
	}
	return &Connector{cal: cal, ppl: ppl, pageSize: o.PageSize, maxPages: o.MaxPages,
		selCat: strings.TrimSpace(o.SelectedCategory), selColor: o.SelectedColorID, series: o.Series,
		writers: map[string]*sync.Mutex{}, keys: map[string]*keyIndex{}}, nil
}

func withSlash(s string) string {
	if !strings.HasSuffix(s, "/") {
		return s + "/"
	}
	return s
}

// Side reports the mailbox side.
func (c *Connector) Side() model.Side { return model.Mail }

func checkScope(s connector.Scope, kind model.Kind) error {
	if strings.TrimSpace(s.User) == "" {
		return errors.New("google: scope without a user")
	}
	if s.Kind != kind {
		return fmt.Errorf("google: scope kind %q, want %q", s.Kind, kind)
	}
	if kind == model.Events && (s.WindowStart.IsZero() || s.WindowEnd.IsZero() || !s.WindowEnd.After(s.WindowStart)) {
		return errors.New("google: events scope without a window")
	}
	return nil
}

// checkKey refuses keys that could not be stored or looked up: clientData
// and extended property values are strings, and a privateExtendedProperty
// filter is "name=value" (Google limits a property value to 1024
// characters).
func checkKey(key string) error {
	if key == "" || len(key) > 255 || strings.ContainsAny(key, "\x00\r\n") {
		return errors.New("google: idempotency key must be 1-255 characters without control characters")
	}
	return nil
}

// userWriter returns the per-user lock for People mutations.
func (c *Connector) userWriter(user string) *sync.Mutex {
	tag := userTag(user)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.writers[tag]
	if m == nil {
		m = &sync.Mutex{}
		c.writers[tag] = m
	}
	return m
}

// ctxFor is the context of every request made for s: the gateway client
// sets Syncgate-Subject from it.
func ctxFor(ctx context.Context, s connector.Scope) context.Context {
	return gateway.WithSubject(ctx, s.User)
}

// ---- errors ----

// errClass says how an operation's failures map to the engine's errors.
type errClass int

const (
	// listing: 410 and People's EXPIRED_SYNC_TOKEN mean ErrResync.
	classList errClass = iota
	// incremental listing (with a sync token): as classList, and any 400
	// too. Google refuses a token used with other parameters than the
	// listing that made it with a 400 (Calendar:
	// syncTokenWithRequestRestrictions; People: "Sync token is invalid"),
	// and the remedy for each is a full listing, which does not send the
	// token again (so a 400 for another reason shows there).
	classListIncr
	// item: a 404 (or Calendar's 410 "deleted") means ErrNotFound.
	classItem
	// write: as item, and a failed etag precondition means ErrConflict.
	classWrite
	// plain: no status has a special meaning.
	classPlain
)

// listClass is the error class of a listing with or without a sync token.
func listClass(syncToken string) errClass {
	if syncToken != "" {
		return classListIncr
	}
	return classList
}

// googleStatus is what the connector keeps of a Google error body: the
// canonical status and the reasons (Calendar's errors[].reason, People's
// google.rpc.ErrorInfo reason). Nothing else of the body is looked at.
type googleStatus struct {
	Error struct {
		Status  string `json:"status"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
		Errors []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
	} `json:"error"`
}

// reasons returns the reasons and the status of a Google error.
func reasons(ge *googleapi.Error) (rs []string, status string) {
	for _, it := range ge.Errors {
		rs = append(rs, it.Reason)
	}
	var b googleStatus
	if json.Unmarshal([]byte(ge.Body), &b) == nil {
		status = b.Error.Status
		for _, d := range b.Error.Details {
			if strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && d.Reason != "" {
				rs = append(rs, d.Reason)
			}
		}
		if len(ge.Errors) == 0 {
			for _, it := range b.Error.Errors {
				rs = append(rs, it.Reason)
			}
		}
	}
	return rs, status
}

func hasReason(rs []string, want ...string) bool {
	for _, r := range rs {
		for _, w := range want {
			if strings.EqualFold(r, w) {
				return true
			}
		}
	}
	return false
}

// throttleReasons are the documented "slow down" answers: Calendar's 403
// usageLimits reasons and People's quota reason.
var throttleReasons = []string{"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded", "RATE_LIMIT_EXCEEDED"}

// mapErr turns a client library error into the connector's errors. The
// result never carries a body, a message, a URL or a query value (they
// name users, keys and sync tokens): only the operation, the status, a
// code-shaped reason and the gateway's request id.
func mapErr(op string, ctx context.Context, err error, class errClass) error {
	if err == nil {
		return nil
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return transportError(op, ctx, err)
	}
	rs, status := reasons(ge)
	code := ""
	for _, r := range rs {
		if isCode(r) {
			code = r
			break
		}
	}
	if code == "" && isCode(status) {
		code = status
	}
	he := &connector.HTTPError{Op: op, Status: ge.Code, Code: code, RequestID: safeHeader(ge.Header.Get(gateway.RequestIDHeader))}
	ra := ge.Header.Get("Retry-After")
	switch {
	case ge.Code == http.StatusTooManyRequests,
		ge.Code == http.StatusServiceUnavailable && ra != "",
		ge.Code == http.StatusForbidden && hasReason(rs, throttleReasons...),
		status == "RESOURCE_EXHAUSTED":
		return fmt.Errorf("%s: %w", op, &connector.ThrottledError{Status: ge.Code, RetryAfter: retryAfter(ra, time.Now())})
	case (class == classList || class == classListIncr) && (ge.Code == http.StatusGone || hasReason(rs, "fullSyncRequired", "EXPIRED_SYNC_TOKEN")),
		class == classListIncr && ge.Code == http.StatusBadRequest:
		return fmt.Errorf("%w: %w", connector.ErrResync, he)
	case (class == classItem || class == classWrite) && (ge.Code == http.StatusNotFound || ge.Code == http.StatusGone):
		return fmt.Errorf("%w: %w", connector.ErrNotFound, he)
	case class == classWrite && (ge.Code == http.StatusPreconditionFailed || ge.Code == http.StatusConflict ||
		ge.Code == http.StatusBadRequest && (status == "FAILED_PRECONDITION" || hasReason(rs, "failedPrecondition"))):
		return fmt.Errorf("%w: %w", connector.ErrConflict, he)
	}
	return he
}

// transportError keeps the cause but not the URL (it carries sync tokens
// and key filters) of a failed round trip.
func transportError(op string, ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
		if errors.As(err, &ue) { // never more than the innermost cause
			err = ue.Err
		}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return fmt.Errorf("%s: malformed response", op)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isCode accepts a reason or status that looks like an identifier.
func isCode(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return false
		}
	}
	return true
}

// safeHeader keeps a header value for an error only when it is a short
// token (the gateway's request ids are).
func safeHeader(v string) string {
	if len(v) > 64 || !isCode(v) {
		return ""
	}
	return v
}

// retryAfter parses Retry-After: delta-seconds or an HTTP date; 0 when
// absent or malformed.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
