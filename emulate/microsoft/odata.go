package microsoft

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// newGUID returns a random RFC 4122 version 4 identifier, the shape Graph and
// Entra use for request ids, trace ids and object ids.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// writeJSON writes v with the status; encoding errors can only come from the
// connection at that point, so there is nothing better to do than drop them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// graphError writes the OData error body Graph documents:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
func graphError(w http.ResponseWriter, r *http.Request, now time.Time, status int, code, msg string) {
	reqID := w.Header().Get("request-id")
	if reqID == "" {
		reqID = newGUID()
		w.Header().Set("request-id", reqID)
	}
	clientReqID := w.Header().Get("client-request-id")
	if clientReqID == "" {
		clientReqID = reqID
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	}
	writeJSON(w, status, map[string]any{
		"error": map[string]any{
			"code":    code,
			"message": msg,
			"innerError": map[string]any{
				"date":              now.UTC().Format("2006-01-02T15:04:05"),
				"request-id":        reqID,
				"client-request-id": clientReqID,
			},
		},
	})
}

// parseSelect parses an OData $select value: a comma-separated list of
// property names. It returns nil for an empty value (select everything).
// Names are checked against known, the properties of the entity type, the
// way Graph rejects a $select naming a property the type does not have.
func parseSelect(v string, known map[string]bool, typeName string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if len(v) > 4096 {
		return nil, fmt.Errorf("$select is too long")
	}
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		name := strings.TrimSpace(part)
		if name == "" {
			return nil, fmt.Errorf("Syntax error: character ',' is not valid at this position in $select")
		}
		if name == "*" {
			return nil, nil
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return nil, fmt.Errorf("Syntax error at position %d in $select.", strings.IndexRune(v, c))
			}
		}
		canon, ok := lookupFold(known, name)
		if !ok {
			return nil, fmt.Errorf("Could not find a property named '%s' on type '%s'.", truncate(name, 64), typeName)
		}
		if !seen[canon] {
			seen[canon] = true
			out = append(out, canon)
		}
	}
	return out, nil
}

// lookupFold finds name in known ignoring case, as OData property names in
// query options are matched case-insensitively by Graph.
func lookupFold(known map[string]bool, name string) (string, bool) {
	if known[name] {
		return name, true
	}
	for k := range known {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// applySelect keeps the selected properties, plus id and @odata.etag which
// Graph always returns.
func applySelect(m map[string]any, sel []string) map[string]any {
	if sel == nil {
		return m
	}
	out := map[string]any{}
	for _, k := range []string{"id", "@odata.etag", "@odata.type", "@removed"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	for _, k := range sel {
		if v, ok := m[k]; ok {
			out[k] = v
		} else {
			out[k] = nil
		}
	}
	return out
}

// parseMaxPageSize reads odata.maxpagesize from Prefer headers. It returns 0
// when the preference is absent. Other preferences are ignored, as a server
// may do; a malformed maxpagesize is ignored too, as Graph does.
func parseMaxPageSize(h http.Header) int {
	for _, line := range h.Values("Prefer") {
		for _, pref := range strings.Split(line, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`))
			if err != nil || n <= 0 {
				continue
			}
			if n > maxPageSize {
				n = maxPageSize
			}
			return n
		}
	}
	return 0
}

const maxPageSize = 1000

// parseTop reads $top (1..1000). ok is false for a malformed value.
func parseTop(q url.Values) (n int, set bool, err error) {
	v := q.Get("$top")
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("Invalid $top value: it must be a non-negative integer.")
	}
	if n > maxPageSize {
		n = maxPageSize
	}
	return n, true, nil
}

func parseSkip(q url.Values) (int, error) {
	v := q.Get("$skip")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("Invalid $skip value: it must be a non-negative integer.")
	}
	return n, nil
}

// ifMatch extracts the change key from an If-Match header: "*" matches any,
// W/"ck" and "ck" both carry ck. ok is false when there is no header.
func ifMatch(h http.Header) (ck string, anyMatch, present bool) {
	v := strings.TrimSpace(h.Get("If-Match"))
	if v == "" {
		return "", false, false
	}
	if v == "*" {
		return "", true, true
	}
	v = strings.TrimPrefix(v, "W/")
	return strings.Trim(v, `"`), false, true
}
