package salesforce

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
	"sync"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// Defaults for Options.
const (
	DefaultAPIVersion   = "v60.0"
	DefaultLookback     = 2 * time.Minute
	DefaultMaxCursorAge = 14 * 24 * time.Hour
	// ExternalIDField is the custom external-id field on Contact and Event
	// that carries syncgate's idempotency key.
	ExternalIDField = "Syncgate_Id__c"
)

const (
	maxBody = 64 << 20 // one query page of 2,000 records is a few MB
	// maxSeen bounds the ids a cursor remembers inside its look-back
	// window; above it the look-back shrinks to the high-water second.
	maxSeen = 1000
)

// Options configures a Connector.
type Options struct {
	// InstanceURL is the org's instance (My Domain) URL, https://host.
	InstanceURL string
	// APIVersion is the REST API version, "v60.0" (default) or "60.0".
	APIVersion string
	// HTTP is the client every call goes through: in production the
	// gateway's (gateway.Client.HTTP), which sets Syncgate-Subject from the
	// context and whose gateway injects the user's token. Required.
	HTTP *http.Client
	// BatchSize is sent as Sforce-Query-Options batchSize (Salesforce
	// accepts 200..2000); 0 leaves Salesforce's default of 2,000.
	BatchSize int
	// Lookback re-reads this much below the cursor's high-water mark so that
	// a record committed late with an earlier SystemModstamp is not missed;
	// records already reported with the same SystemModstamp are skipped, so
	// the overlap costs no duplicates. 0 means DefaultLookback, negative none.
	Lookback time.Duration
	// MaxCursorAge: a cursor last used longer ago than this is refused with
	// ErrResync, because deleted records leave the Recycle Bin (where
	// queryAll finds them) after 15 days. 0 means DefaultMaxCursorAge.
	MaxCursorAge time.Duration
	// Now is the clock for cursor ages; nil means time.Now.
	Now func() time.Time
	// Series reads and writes Lightning event series (IsRecurrence2) as one
	// item each (connector.SeriesCapable; see series.go).
	Series bool
}

// Connector is the Salesforce end of a sync. It is safe for concurrent use.
type Connector struct {
	base     string // https://host
	api      string // /services/data/v60.0
	hc       *http.Client
	batch    int
	lookback time.Duration
	maxAge   time.Duration
	now      func() time.Time
	series   bool

	mu    sync.Mutex
	users map[string]string // acting user -> Salesforce user id
}

var _ connector.Connector = (*Connector)(nil)

// New checks o and returns a connector.
func New(o Options) (*Connector, error) {
	u, err := url.Parse(o.InstanceURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("salesforce: instance URL must be https://host")
	}
	if o.HTTP == nil {
		return nil, errors.New("salesforce: an HTTP client (the gateway's) is required")
	}
	v := o.APIVersion
	if v == "" {
		v = DefaultAPIVersion
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if f, err := strconv.ParseFloat(v[1:], 64); err != nil || f < 31 || !strings.HasSuffix(v, ".0") {
		return nil, fmt.Errorf("salesforce: API version %q: want e.g. v60.0", o.APIVersion)
	}
	if o.BatchSize != 0 && (o.BatchSize < 200 || o.BatchSize > 2000) {
		return nil, errors.New("salesforce: batch size must be 200..2000")
	}
	c := &Connector{
		base:     "https://" + u.Host,
		api:      "/services/data/" + v,
		hc:       o.HTTP,
		batch:    o.BatchSize,
		lookback: o.Lookback,
		maxAge:   o.MaxCursorAge,
		now:      o.Now,
		series:   o.Series,
		users:    map[string]string{},
	}
	if c.lookback == 0 {
		c.lookback = DefaultLookback
	} else if c.lookback < 0 {
		c.lookback = 0
	}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxCursorAge
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Side reports the CRM side.
func (c *Connector) Side() model.Side { return model.CRM }

// object is the sObject a kind lives in.
func object(k model.Kind) (string, error) {
	switch k {
	case model.Contacts:
		return "Contact", nil
	case model.Events:
		return "Event", nil
	}
	return "", fmt.Errorf("salesforce: unsupported kind %q", k)
}

// begin checks the scope and returns the context every call of this
// operation is made under: the acting user is set here, so no caller can
// forget it.
func (c *Connector) begin(ctx context.Context, s connector.Scope) (context.Context, string, error) {
	if s.User == "" {
		return nil, "", errors.New("salesforce: scope has no user")
	}
	obj, err := object(s.Kind)
	if err != nil {
		return nil, "", err
	}
	return gateway.WithSubject(ctx, s.User), obj, nil
}

// reply is a read HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// send makes one call. ref is a path (and query) on the instance. Errors
// name op only: never the URL, whose query string can carry SOQL with data.
func (c *Connector) send(ctx context.Context, op, method, ref string, in any, hdr http.Header) (*reply, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request", op)
		}
		body = bytes.NewReader(b) // lets the gateway client replay it on 429
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+ref, body)
	if err != nil {
		return nil, fmt.Errorf("%s: malformed request", op)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the URL
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading response: %w", op, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s: response larger than %d bytes", op, maxBody)
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// decode unmarshals a successful answer; the JSON error is not returned,
// its text could quote the body.
func decode(op string, rep *reply, v any) error {
	if err := json.Unmarshal(rep.body, v); err != nil {
		return fmt.Errorf("%s: malformed response (HTTP %d)", op, rep.status)
	}
	return nil
}

// fail turns an unexpected answer into the connector's errors. Only the
// status, Salesforce's errorCode and the gateway request id are kept.
func fail(op string, rep *reply) error {
	code, msg := errorCode(rep.body)
	he := &connector.HTTPError{Op: op, Status: rep.status, Code: code, RequestID: requestID(rep.header)}
	switch {
	case code == "REQUEST_LIMIT_EXCEEDED" && strings.Contains(msg, "ConcurrentPerOrgLongTxn"):
		// Too many concurrent long requests: a throttle, not the daily
		// allocation.
		return &connector.ThrottledError{Status: rep.status, RetryAfter: retryAfter(rep.header)}
	case code == "REQUEST_LIMIT_EXCEEDED":
		return fmt.Errorf("%w: %w", connector.ErrOrgLimit, he)
	case rep.status == http.StatusTooManyRequests ||
		(rep.status == http.StatusServiceUnavailable && (rep.header.Get("Retry-After") != "" || code != "")):
		// A 503 from Salesforce (its error shape, or a Retry-After) is a
		// throttle. The gateway's own 503 (no credential could be had) is
		// not, and its request id leads to the reason in the audit log.
		return &connector.ThrottledError{Status: rep.status, RetryAfter: retryAfter(rep.header)}
	}
	return he
}

// notFound reports whether an answer says the record does not exist.
func notFound(rep *reply) bool {
	if rep.status != http.StatusNotFound {
		return false
	}
	code, _ := errorCode(rep.body)
	return code == "" || code == "NOT_FOUND" || code == "ENTITY_IS_DELETED"
}

// unrepresentable lists the errorCodes of a write Salesforce refuses for
// the record's content: the item cannot be represented on this side.
var unrepresentable = map[string]bool{
	"STRING_TOO_LONG":                         true,
	"REQUIRED_FIELD_MISSING":                  true,
	"FIELD_INTEGRITY_EXCEPTION":               true,
	"INVALID_EMAIL_ADDRESS":                   true,
	"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": true,
	"FIELD_CUSTOM_VALIDATION_EXCEPTION":       true,
	"NUMBER_OUTSIDE_VALID_RANGE":              true,
}

// writeFail is fail for writes: content Salesforce refuses is also
// connector.ErrUnsupported.
func writeFail(op string, rep *reply) error {
	err := fail(op, rep)
	if code, _ := errorCode(rep.body); rep.status == http.StatusBadRequest && unrepresentable[code] {
		return fmt.Errorf("%w: %w", connector.ErrUnsupported, err)
	}
	return err
}

// errorCode extracts Salesforce's errorCode (error array), an OAuth
// "error", or a bare code such as Bad_OAuth_Token. The message is returned
// for classification only and must not be put into errors.
func errorCode(body []byte) (code, msg string) {
	var arr []struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &arr) == nil && len(arr) > 0 {
		return safeToken(arr[0].ErrorCode, 64, false), arr[0].Message
	}
	var obj struct {
		ErrorCode string `json:"errorCode"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(body, &obj) == nil {
		if obj.ErrorCode != "" {
			return safeToken(obj.ErrorCode, 64, false), ""
		}
		return safeToken(obj.Error, 64, false), ""
	}
	return safeToken(strings.TrimSpace(string(body)), 64, false), ""
}

func requestID(h http.Header) string {
	return safeToken(h.Get(gateway.RequestIDHeader), 128, true)
}

// safeToken returns s when it is a short identifier, "" otherwise, so that
// nothing resembling data reaches an error string.
func safeToken(s string, n int, punct bool) string {
	if s == "" || len(s) > n {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' ||
			punct && (c == '-' || c == '.' || c == ':')
		if !ok {
			return ""
		}
	}
	return s
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// userID returns the acting user's Salesforce user id from the OpenID
// Connect UserInfo endpoint, which answers for the token's user: whatever
// username the gateway maps the subject to, this is the user it acts as.
// Cached per subject.
func (c *Connector) userID(ctx context.Context, user string) (string, error) {
	c.mu.Lock()
	id, ok := c.users[user]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	const op = "salesforce: userinfo"
	rep, err := c.send(ctx, op, http.MethodGet, "/services/oauth2/userinfo", nil, nil)
	if err != nil {
		return "", err
	}
	if rep.status != http.StatusOK {
		return "", fail(op, rep)
	}
	var ui struct {
		UserID string `json:"user_id"`
	}
	if err := decode(op, rep, &ui); err != nil {
		return "", err
	}
	if !validID(ui.UserID) {
		return "", fmt.Errorf("%s: answer has no valid user_id", op)
	}
	c.mu.Lock()
	c.users[user] = ui.UserID
	c.mu.Unlock()
	return ui.UserID, nil
}

// validID reports whether s is a 15- or 18-character Salesforce id.
func validID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validKey reports whether an idempotency key can be a path segment of the
// upsert URL unchanged (syncgate's keys are hex).
func validKey(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
