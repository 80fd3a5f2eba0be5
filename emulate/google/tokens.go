package google

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// cursor is what page and sync tokens carry. Tokens are opaque to clients:
// JSON, MACed with a per-server key, base64url — so a client can neither
// forge one nor reuse one issued by another emulator instance.
type cursor struct {
	Kind     string `json:"k"`           // kindCalPage, kindCalSync...: tokens never cross APIs or roles
	Sub      string `json:"u"`           // owner: a token works only for the user it was issued to
	Snap     int64  `json:"s"`           // change sequence at the first page: the next sync token's position
	From     int64  `json:"f,omitempty"` // incremental: changes after this sequence
	Incr     bool   `json:"i,omitempty"`
	AfterKey string `json:"ak,omitempty"` // paging: last (sort key, id) returned
	AfterID  string `json:"ai,omitempty"`
	Params   string `json:"p,omitempty"` // hash of the request parameters that must not change while paging
	Full     int64  `json:"t,omitempty"` // unix seconds of the full sync the chain started from (People expiry)
}

const maxTokenLen = 4096

var errBadToken = errors.New("malformed token")

func (s *Server) encodeToken(c cursor) string {
	body, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("google emulator: marshal cursor: %v", err)) // a struct of strings and ints cannot fail
	}
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write(body)
	sum := m.Sum(nil)[:16]
	return base64.RawURLEncoding.EncodeToString(append(sum, body...))
}

// decodeToken parses and authenticates a page or sync token. Every failure
// is errBadToken: the caller decides how the API reports it.
func decodeToken(key []byte, tok string) (cursor, error) {
	var c cursor
	if tok == "" || len(tok) > maxTokenLen {
		return c, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 17 {
		return c, errBadToken
	}
	sum, body := raw[:16], raw[16:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(sum, m.Sum(nil)[:16]) {
		return c, errBadToken
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, errBadToken
	}
	if c.Kind == "" || c.Sub == "" || c.Snap < 0 || c.From < 0 {
		return c, errBadToken
	}
	return c, nil
}

func paramsHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}
