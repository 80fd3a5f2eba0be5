package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// DefaultBaseURL is Microsoft Graph v1.0 in the global cloud.
const DefaultBaseURL = "https://graph.microsoft.com/v1.0"

// KeyPropertyID is the single-value extended property that carries
// syncgate's idempotency key on contacts and events: a named MAPI property
// of type String in syncgate's own property set (a GUID fixed once for all
// syncgate installations; changing it would orphan every key written).
const KeyPropertyID = "String {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name SyncgateKey"

// Options configures a Connector. Zero values take the defaults.
type Options struct {
	// BaseURL of Graph, default DefaultBaseURL (a national cloud or a test
	// server may differ). Every request, nextLink and stored cursor must
	// stay under it.
	BaseURL string
	// PageSize is sent as Prefer: odata.maxpagesize (default 100).
	PageSize int
	// MaxPages bounds one delta round (default 100,000): a server that
	// never ends a round is an error, not an endless loop.
	MaxPages int
	// ContactsDelta reads /users/{u}/contacts/delta, which Graph v1.0's
	// OpenAPI description lists for the contacts collection (the default
	// folder) but the contact-delta page does not, instead of finding the
	// default folder's id and reading contactFolders/{id}/contacts/delta.
	ContactsDelta bool
	// Series reads and writes event series as one item each
	// (connector.SeriesCapable; see series.go). Off, series are reported
	// as in part 1 (masters, occurrences, exceptions) and never written.
	Series bool
}

// Connector reads and writes one mailbox's contacts (default contacts
// folder) and events (default calendar) through the gateway.
type Connector struct {
	hc       *http.Client
	base     *url.URL
	pageSize int
	maxPages int
	// contactsDelta: see Options.ContactsDelta.
	contactsDelta bool
	series        bool
}

var _ connector.Connector = (*Connector)(nil)

// New returns a connector that sends every request with hc, which in
// production is the gateway client's (sync/gateway): it routes through the
// syncgate gateway, which injects the app token. The connector itself never
// sets Authorization.
func New(hc *http.Client, o Options) (*Connector, error) {
	if hc == nil {
		return nil, errors.New("graph: nil HTTP client")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimSuffix(o.BaseURL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("graph: base URL %q: want https://host[/path] without query or credentials", o.BaseURL)
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.PageSize > 1000 {
		o.PageSize = 1000
	}
	if o.MaxPages <= 0 {
		o.MaxPages = 100000
	}
	return &Connector{hc: hc, base: u, pageSize: o.PageSize, maxPages: o.MaxPages, contactsDelta: o.ContactsDelta, series: o.Series}, nil
}

// Side reports the mailbox side.
func (c *Connector) Side() model.Side { return model.Mail }

// userPath is the URL of /users/{user} plus the escaped segments.
func (c *Connector) userURL(s connector.Scope, segs ...string) string {
	var b strings.Builder
	b.WriteString(c.base.String())
	b.WriteString("/users/")
	b.WriteString(url.PathEscape(s.User))
	for _, seg := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}

func checkScope(s connector.Scope, kind model.Kind) error {
	if strings.TrimSpace(s.User) == "" {
		return errors.New("graph: scope without a user")
	}
	if s.Kind != kind {
		return fmt.Errorf("graph: scope kind %q, want %q", s.Kind, kind)
	}
	return nil
}

// underBase reports whether a link the server returned (nextLink,
// deltaLink) or a stored cursor stays on the configured service, so that a
// tampered cursor or odd link cannot send the acting user's requests
// elsewhere.
func (c *Connector) underBase(link string) (*url.URL, bool) {
	u, err := url.Parse(link)
	if err != nil || u.User != nil {
		return nil, false
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return nil, false
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, c.base.EscapedPath()+"/") {
		return nil, false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." || strings.EqualFold(seg, "%2e%2e") || strings.EqualFold(seg, "%2e") {
			return nil, false
		}
	}
	return u, true
}

// request is one call to Graph.
type request struct {
	op      string // what the call is for, used in errors ("graph get contact")
	method  string
	url     string
	body    any
	ifMatch string
	// events: ask for UTC times and text bodies.
	events bool
	// maxPageSize adds Prefer: odata.maxpagesize.
	maxPageSize int
	// delta: a 410, or a sync-state error code, means ErrResync.
	delta bool
}

// response is a successful answer.
type response struct {
	status int
	body   []byte
}

// maxBody bounds what is read of one response.
const maxBody = 32 << 20

// do sends r as s.User and maps the outcome to the connector's errors.
// Errors never carry a body, a header value other than the gateway request
// id, a URL or a query string (paths and filters name users and keys).
func (c *Connector) do(ctx context.Context, s connector.Scope, r request) (*response, error) {
	ctx = gateway.WithSubject(ctx, s.User)
	var body io.Reader
	var raw []byte
	if r.body != nil {
		var err error
		raw, err = json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", r.op, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot build request", r.op)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if r.ifMatch != "" {
		req.Header.Set("If-Match", r.ifMatch)
	}
	if r.maxPageSize > 0 {
		req.Header.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(r.maxPageSize))
	}
	if r.events {
		req.Header.Add("Prefer", `outlook.timezone="UTC"`)
		req.Header.Add("Prefer", `outlook.body-content-type="text"`)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, transportError(r.op, ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, transportError(r.op, ctx, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s: response larger than %d bytes", r.op, maxBody)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &response{status: resp.StatusCode, body: b}, nil
	}
	return nil, statusError(r, resp, b)
}

// transportError keeps the cause but not the URL of a failed round trip.
func transportError(op string, ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// graphCode extracts error.code from an OData error body, if it looks like
// a code (letters, digits, '_', '.', '-'); anything else is dropped.
func graphCode(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	code := e.Error.Code
	if len(code) > 80 {
		return ""
	}
	for _, ch := range code {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return ""
		}
	}
	return code
}

func statusError(r request, resp *http.Response, b []byte) error {
	he := &connector.HTTPError{
		Op:        r.op,
		Status:    resp.StatusCode,
		Code:      graphCode(b),
		RequestID: safeHeader(resp.Header.Get(gateway.RequestIDHeader)),
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
		// As the gateway client decides: a 503 is a throttle only when it
		// says when to come back (the gateway's own 503s do not).
		return fmt.Errorf("%s: %w", r.op, &connector.ThrottledError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())})
	case r.delta && (resp.StatusCode == http.StatusGone || isResyncCode(he.Code)):
		return fmt.Errorf("%w: %w", connector.ErrResync, he)
	case resp.StatusCode == http.StatusNotFound && isItemNotFound(he.Code):
		// Only an item's absence: a 404 for an unknown mailbox
		// (ErrorInvalidUser) must never read as "every item deleted".
		return fmt.Errorf("%w: %w", connector.ErrNotFound, he)
	case resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", connector.ErrConflict, he)
	}
	return he
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

func isItemNotFound(code string) bool {
	switch strings.ToLower(code) {
	case "erroritemnotfound", "itemnotfound":
		return true
	}
	return false
}

func isResyncCode(code string) bool {
	switch strings.ToLower(code) {
	case "syncstatenotfound", "syncstateinvalid", "resyncrequired":
		return true
	}
	return false
}

// safeHeader keeps a header value for an error message only when it is a
// short token (the gateway's request ids are).
func safeHeader(v string) string {
	if len(v) > 64 {
		return ""
	}
	for _, ch := range v {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return ""
		}
	}
	return v
}

// odataQuote quotes a string literal for $filter: single quotes doubled.
func odataQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// expandKey is the $expand that returns the key property, if present.
var expandKey = "singleValueExtendedProperties($filter=id eq " + odataQuote(KeyPropertyID) + ")"

// keyFilter selects the items carrying key.
func keyFilter(key string) string {
	return "singleValueExtendedProperties/Any(ep: ep/id eq " + odataQuote(KeyPropertyID) + " and ep/value eq " + odataQuote(key) + ")"
}

// extProp is a singleValueLegacyExtendedProperty.
type extProp struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

func keyOf(props []extProp) string {
	for _, p := range props {
		if strings.EqualFold(p.ID, KeyPropertyID) {
			return p.Value
		}
	}
	return ""
}

// checkKey refuses keys that could not be written or filtered on.
func checkKey(key string) error {
	if key == "" || len(key) > 255 || strings.ContainsAny(key, "\x00\r\n") {
		return errors.New("graph: idempotency key must be 1-255 characters without control characters")
	}
	return nil
}

// withQuery appends query parameters, percent-encoded (spaces as %20, as
// Graph's documentation asks for $filter and $expand).
func withQuery(u string, kv ...string) string {
	var b strings.Builder
	b.WriteString(u)
	for i := 0; i+1 < len(kv); i += 2 {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(kv[i+1]), "+", "%20"))
	}
	return b.String()
}

// listPage is one page of a collection or delta answer.
type listPage struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// list reads every page of a collection (not delta) and returns the items.
func (c *Connector) list(ctx context.Context, s connector.Scope, op, first string, events bool) ([]json.RawMessage, error) {
	var out []json.RawMessage
	next := first
	for page := 0; next != ""; page++ {
		if page >= c.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages", op, c.maxPages)
		}
		resp, err := c.do(ctx, s, request{op: op, method: http.MethodGet, url: next, events: events, maxPageSize: c.pageSize})
		if err != nil {
			return nil, err
		}
		var p listPage
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return nil, fmt.Errorf("%s: malformed page", op)
		}
		out = append(out, p.Value...)
		next = ""
		if p.NextLink != "" {
			if _, ok := c.underBase(p.NextLink); !ok {
				return nil, fmt.Errorf("%s: nextLink leaves %s", op, c.base.Host)
			}
			next = p.NextLink
		}
	}
	return out, nil
}
