package ews

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
)

// ReasonItemUnknown is the gateway's 403 reason for an ItemId it has not
// relayed to this subject from an allowed folder (policy.ReasonEWSItemUnknown;
// a test keeps the two equal). Only this reason makes the connector teach
// the gateway the folder's ids again and retry.
const ReasonItemUnknown = "ews item id not relayed from an allowed folder for this subject"

// call is one EWS operation.
type call struct {
	op   string // the operation element's name, e.g. "GetItem"
	what string // what the call is for, used in errors ("ews get contact")
	body any    // the operation element
	n    int    // the number of response messages expected (0: at least one)
	// ids are the ItemIds the request names; an id-addressed call is
	// retried once after teaching the gateway the folder's ids.
	ids []string
}

// busyError is ErrorServerBusy with Exchange's advice.
type busyError struct {
	status  int
	backOff time.Duration
	he      *connector.HTTPError
}

func (e *busyError) Error() string { return e.he.Error() }

// deniedError is the gateway's 403 for an ItemId it does not know.
type deniedError struct{ he *connector.HTTPError }

func (e *deniedError) Error() string { return e.he.Error() }

// goneError: the gateway did not know ids and the folder, listed again
// in full, does not hold them: as far as this folder is concerned they no
// longer exist (EWS reports an item moved out of a synced folder as a
// deletion too).
type goneError struct {
	ids []string
	he  *connector.HTTPError
}

func (e *goneError) Error() string        { return e.he.Error() + " (item no longer in the folder)" }
func (e *goneError) Unwrap() []error      { return []error{connector.ErrNotFound, e.he} }
func (e *goneError) Is(target error) bool { return target == connector.ErrNotFound }

// exec runs cl; when the gateway refuses an ItemId it has not relayed (a
// gateway restart, another replica), it lists the folder's ids with
// FindItem, which teaches them to the gateway, and retries once. Ids the
// listing does not hold are reported as a *goneError without a retry.
func (c *Connector) exec(ctx context.Context, s scopeRef, cl call) ([]responseMessage, string, error) {
	msgs, rid, err := c.roundTrip(ctx, s, cl)
	var d *deniedError
	if !errors.As(err, &d) {
		return msgs, rid, err
	}
	if len(cl.ids) == 0 {
		return nil, rid, d.he
	}
	present, err := c.listIDs(ctx, s)
	if err != nil {
		return nil, rid, err
	}
	var gone []string
	for _, id := range cl.ids {
		if !present[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		return nil, rid, &goneError{ids: gone, he: d.he}
	}
	msgs, rid, err = c.roundTrip(ctx, s, cl)
	if errors.As(err, &d) {
		return nil, rid, d.he
	}
	return msgs, rid, err
}

// scopeRef is what a call needs of the scope.
type scopeRef struct {
	user   string
	folder string
}

// roundTrip sends cl, waiting out ErrorServerBusy as Exchange advises
// (bounded by MaxBusyRetries and MaxBackOff, and by ctx).
func (c *Connector) roundTrip(ctx context.Context, s scopeRef, cl call) ([]responseMessage, string, error) {
	for attempt := 0; ; attempt++ {
		msgs, rid, err := c.once(ctx, s, cl)
		var b *busyError
		if !errors.As(err, &b) {
			return msgs, rid, err
		}
		wait := b.backOff
		if wait <= 0 {
			wait = time.Duration(1<<attempt) * time.Second
		}
		if attempt >= c.busyTries || wait > c.maxBackOff {
			return nil, rid, fmt.Errorf("%s: %w", cl.what, &connector.ThrottledError{Status: b.status, RetryAfter: wait})
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, rid, fmt.Errorf("%s: %w", cl.what, err)
		}
	}
}

// envelope wraps an operation with the headers every request carries.
func envelope(user string, op any) reqEnvelope {
	return reqEnvelope{
		Header: reqHeader{
			Version:       requestServerVersion{Version: ServerVersion},
			Impersonation: exchangeImpersonation{ConnectingSID: connectingSID{PrimarySmtpAddress: user}},
		},
		Body: reqBody{Op: op},
	}
}

// marshalRequest renders the SOAP request of op acting as user.
func marshalRequest(user string, op any) ([]byte, error) {
	b, err := xml.Marshal(envelope(user, op))
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// once sends cl as s.user through the gateway client and reads the answer.
// Errors never carry a body, an address, an id or a key: the operation,
// the HTTP status, EWS's response code and the gateway's request id.
func (c *Connector) once(ctx context.Context, s scopeRef, cl call) ([]responseMessage, string, error) {
	ctx = gateway.WithSubject(ctx, s.user)
	raw, err := marshalRequest(s.user, cl.body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: encode request: %w", cl.what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("%s: cannot build request", cl.what)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("SOAPAction", `"`+NSMessages+"/"+cl.op+`"`)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, "", transportError(ctx, cl.what, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, "", transportError(ctx, cl.what, err)
	}
	rid := safeToken(resp.Header.Get(gateway.RequestIDHeader), 64)
	if int64(len(b)) > c.maxBody {
		return nil, rid, fmt.Errorf("%s: response larger than %d bytes", cl.what, c.maxBody)
	}
	he := &connector.HTTPError{Op: cl.what, Status: resp.StatusCode, RequestID: rid}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		return nil, rid, fmt.Errorf("%s: %w", cl.what, &connector.ThrottledError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())})
	case resp.StatusCode == http.StatusForbidden && isJSON(resp.Header):
		kind, reason := gatewayRefusal(b)
		he.Code = kind
		if kind == "denied" && reason == ReasonItemUnknown {
			he.Code = "denied: " + reason
			return nil, rid, &deniedError{he: he}
		}
		return nil, rid, he
	case (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusInternalServerError) && isXML(resp.Header):
	default:
		return nil, rid, he
	}
	env, err := parseEnvelope(b)
	if err != nil {
		return nil, rid, fmt.Errorf("%s: HTTP %d: %w", cl.what, resp.StatusCode, err)
	}
	if f := env.Body.Fault; f != nil {
		he.Code = safeToken(f.Detail.ResponseCode, 80)
		if he.Code == "" {
			_, local, _ := strings.Cut(f.FaultCode, ":")
			he.Code = safeToken(local, 80)
		}
		if he.Code == "ErrorServerBusy" {
			return nil, rid, &busyError{status: resp.StatusCode, backOff: backOffOf(f.Detail.MessageXML), he: he}
		}
		return nil, rid, codeError(he)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, rid, he
	}
	r := env.Body.Response
	if r == nil || r.XMLName.Space != NSMessages || r.XMLName.Local != cl.op+"Response" {
		return nil, rid, fmt.Errorf("%s: malformed response: no %sResponse", cl.what, cl.op)
	}
	msgs := r.Messages.List
	if len(msgs) == 0 || cl.n > 0 && len(msgs) != cl.n {
		return nil, rid, fmt.Errorf("%s: malformed response: %d response messages, want %d", cl.what, len(msgs), cl.n)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.XMLName.Space != NSMessages || m.XMLName.Local != cl.op+"ResponseMessage" {
			return nil, rid, fmt.Errorf("%s: malformed response: unexpected response message", cl.what)
		}
		switch m.ResponseClass {
		case "Success", "Warning", "Error":
		default:
			return nil, rid, fmt.Errorf("%s: malformed response: ResponseClass missing", cl.what)
		}
		if m.ResponseCode == "ErrorServerBusy" {
			return nil, rid, &busyError{status: resp.StatusCode, backOff: backOffOf(m.MessageXML), he: msgHTTPError(cl, m, rid)}
		}
	}
	return msgs, rid, nil
}

// ok reports whether a response message succeeded.
func ok(m *responseMessage) bool { return m.ResponseClass == "Success" && m.ResponseCode == "NoError" }

func msgHTTPError(cl call, m *responseMessage, rid string) *connector.HTTPError {
	code := safeToken(m.ResponseCode, 80)
	if code == "" {
		code = "no ResponseCode"
	}
	return &connector.HTTPError{Op: cl.what, Status: http.StatusOK, Code: code, RequestID: rid}
}

// msgError is the error of a failed response message, with the sentinel
// the engine acts on.
func msgError(cl call, m *responseMessage, rid string) error {
	return codeError(msgHTTPError(cl, m, rid))
}

// codeError wraps an EWS response code with the connector's sentinels.
func codeError(he *connector.HTTPError) error {
	switch he.Code {
	case "ErrorInvalidSyncStateData":
		return fmt.Errorf("%w: %w", connector.ErrResync, he)
	case "ErrorItemNotFound":
		return fmt.Errorf("%w: %w", connector.ErrNotFound, he)
	case "ErrorIrresolvableConflict", "ErrorChangeKeyRequiredForWriteOperations", "ErrorStaleObject", "ErrorChangeKeyMismatch":
		return fmt.Errorf("%w: %w", connector.ErrConflict, he)
	}
	return he
}

// backOffOf reads BackOffMilliseconds from a MessageXml.
func backOffOf(m *messageXML) time.Duration {
	if m == nil {
		return 0
	}
	for _, v := range m.Values {
		if v.Name == "BackOffMilliseconds" {
			if n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64); err == nil && n > 0 && n < 24*3600*1000 {
				return time.Duration(n) * time.Millisecond
			}
		}
	}
	return 0
}

// maxDepth bounds the nesting of a response.
const maxDepth = 64

// parseEnvelope reads a SOAP response strictly: well-formed UTF-8 XML
// (no other encoding is accepted), no DOCTYPE or other directive (so no
// entity declarations: only the five predefined entities exist), no
// processing instruction other than the XML declaration, bounded depth,
// and a SOAP 1.1 Envelope with a Body.
func parseEnvelope(b []byte) (*respEnvelope, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	depth, first := 0, true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.New("malformed XML")
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errors.New("DOCTYPE or other directive in response")
		case xml.ProcInst:
			if t.Target != "xml" || !first {
				return nil, errors.New("processing instruction in response")
			}
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return nil, errors.New("response nested too deeply")
			}
		case xml.EndElement:
			depth--
		}
		first = false
	}
	var env respEnvelope
	if err := xml.Unmarshal(b, &env); err != nil {
		return nil, errors.New("not a SOAP 1.1 envelope")
	}
	return &env, nil
}

func isXML(h http.Header) bool {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "text/xml" && mt != "application/soap+xml" && mt != "application/xml" {
		return false
	}
	cs, has := params["charset"]
	return !has || strings.EqualFold(cs, "utf-8")
}

func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// gatewayRefusal reads the gateway's {"error": kind, "reason": ...}.
func gatewayRefusal(b []byte) (kind, reason string) {
	var v struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(b, &v) != nil {
		return "", ""
	}
	return safeToken(v.Error, 32), v.Reason
}

// transportError keeps the cause but not the URL of a failed round trip.
func transportError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: %w", what, err)
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

// safeToken keeps a value for an error message only when it is a short
// token (letters, digits, '_', '.', '-'); anything else is dropped.
func safeToken(v string, max int) string {
	if len(v) > max {
		return ""
	}
	for _, ch := range v {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return ""
		}
	}
	return v
}

// listIDs lists the ids of every item in the scope's folder with FindItem
// (IdOnly, Traversal Shallow, IndexedPageItemView paging). Through the
// gateway this also teaches it those ids for the acting user.
func (c *Connector) listIDs(ctx context.Context, s scopeRef) (map[string]bool, error) {
	const what = "ews list item ids"
	out := map[string]bool{}
	offset := 0
	for page := 0; ; page++ {
		if page >= c.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages", what, c.maxPages)
		}
		cl := call{op: "FindItem", what: what, n: 1, body: findItemReq{
			Traversal: "Shallow",
			ItemShape: itemShape{BaseShape: "IdOnly"},
			View:      indexedPageItemView{MaxEntriesReturned: c.pageSize, Offset: offset, BasePoint: "Beginning"},
			Parents:   folderRef{Folder: distinguishedFolderID{ID: s.folder}},
		}}
		msgs, rid, err := c.roundTrip(ctx, s, cl)
		if err != nil {
			return nil, err
		}
		m := &msgs[0]
		if !ok(m) {
			return nil, msgError(cl, m, rid)
		}
		rf := m.RootFolder
		if rf == nil {
			return nil, fmt.Errorf("%s: malformed response: no RootFolder", what)
		}
		n := 0
		for _, id := range rf.Items.allIDs() {
			out[id.ID] = true
			n++
		}
		switch rf.IncludesLastItemInRange {
		case "true":
			return out, nil
		case "false":
		default:
			return nil, fmt.Errorf("%s: malformed response: IncludesLastItemInRange missing", what)
		}
		next, err := strconv.Atoi(rf.IndexedPagingOffset)
		if err != nil {
			next = offset + n
		}
		if next <= offset || n == 0 {
			return nil, fmt.Errorf("%s: malformed response: paging does not advance", what)
		}
		offset = next
	}
}

// allIDs returns the ItemId of every item in the list, whatever its class.
func (r *rItems) allIDs() []*itemID {
	var out []*itemID
	for i := range r.Contacts {
		if id := r.Contacts[i].ItemID; id != nil && id.ID != "" {
			out = append(out, id)
		}
	}
	for i := range r.CalendarItems {
		if id := r.CalendarItems[i].ItemID; id != nil && id.ID != "" {
			out = append(out, id)
		}
	}
	for i := range r.Other {
		if id := r.Other[i].ItemID; id != nil && id.ID != "" {
			out = append(out, id)
		}
	}
	return out
}
