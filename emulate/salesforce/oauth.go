package salesforce

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ConnectedApp is a registered OAuth client using the JWT bearer flow.
type ConnectedApp struct {
	Name        string
	ConsumerKey string
	// CertificatePEM is the X.509 certificate uploaded under "Use digital
	// signatures"; its RSA key verifies assertions.
	CertificatePEM string
	// PreApproved lists usernames pre-authorised for the app ("Admin approved
	// users are pre-authorized"); others get "user hasn't approved this consumer".
	PreApproved []string

	pub      *rsa.PublicKey
	secret   []byte // signs the token response's signature field
	approved map[string]bool
}

// User is an org user the sync may act as.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// AddConnectedApp registers (or replaces) a connected app.
func (s *Server) AddConnectedApp(app ConnectedApp) error {
	if app.ConsumerKey == "" {
		return errors.New("salesforce: connected app needs a consumer key")
	}
	pub, err := parseRSACert(app.CertificatePEM)
	if err != nil {
		return fmt.Errorf("salesforce: connected app %q: %w", app.Name, err)
	}
	a := app
	a.pub = pub
	a.secret = []byte(randomToken(32))
	a.approved = map[string]bool{}
	for _, u := range app.PreApproved {
		a.approved[strings.ToLower(u)] = true
	}
	s.mu.Lock()
	s.apps[a.ConsumerKey] = &a
	s.mu.Unlock()
	return nil
}

func parseRSACert(p string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("certificate PEM has no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("certificate key is not RSA (RS256 requires RSA)")
	}
	return pub, nil
}

// AddUser creates a user and returns its id; an empty u.ID gets a fresh 005 id.
func (s *Server) AddUser(u User) (string, error) {
	if u.Username == "" {
		return "", errors.New("salesforce: user needs a username")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = s.newIDLocked("005")
	} else if id, ok := normalizeID(u.ID); ok {
		u.ID = id
	} else {
		return "", fmt.Errorf("salesforce: user %q: malformed id", u.Username)
	}
	nu := u
	s.users[strings.ToLower(u.Username)] = &nu
	s.usersByID[u.ID] = &nu
	return u.ID, nil
}

// Assertion is the decoded, signature-checked JWT bearer assertion.
type Assertion struct {
	Iss string
	Sub string
	Aud []string
	Exp float64
}

var errAssertion = errors.New("invalid assertion")

// ParseAssertion splits and decodes a compact JWS, checks the algorithm is
// RS256 and that the signature verifies with pub (skipped when pub is nil,
// for fuzzing the decoder alone). It never returns the token in errors.
func ParseAssertion(tok string, pub *rsa.PublicKey) (*Assertion, error) {
	if len(tok) > 16<<10 {
		return nil, fmt.Errorf("%w: too long", errAssertion)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", errAssertion)
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header encoding", errAssertion)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header json", errAssertion)
	}
	if hdr.Alg != "RS256" {
		return nil, fmt.Errorf("%w: alg %q not RS256", errAssertion, truncate(hdr.Alg, 10))
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload encoding", errAssertion)
	}
	var raw map[string]any
	if err := json.Unmarshal(pb, &raw); err != nil {
		return nil, fmt.Errorf("%w: payload json", errAssertion)
	}
	a := &Assertion{}
	a.Iss, _ = raw["iss"].(string)
	a.Sub, _ = raw["sub"].(string)
	switch v := raw["aud"].(type) {
	case string:
		a.Aud = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				a.Aud = append(a.Aud, s)
			}
		}
	}
	exp, ok := raw["exp"].(float64)
	if !ok || math.IsNaN(exp) || math.IsInf(exp, 0) {
		return nil, fmt.Errorf("%w: exp missing", errAssertion)
	}
	a.Exp = exp
	if pub != nil {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return nil, fmt.Errorf("%w: signature encoding", errAssertion)
		}
		h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			return nil, fmt.Errorf("%w: signature", errAssertion)
		}
	}
	return a, nil
}

func unverifiedIssuer(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(pb, &c) != nil {
		return ""
	}
	return c.Iss
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, host string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "must use HTTP POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed request body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
		return
	}
	tok := r.PostForm.Get("assertion")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "assertion parameter missing")
		return
	}
	s.mu.Lock()
	app := s.apps[unverifiedIssuer(tok)]
	s.mu.Unlock()
	if app == nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_id", "client identifier invalid")
		return
	}
	a, err := ParseAssertion(tok, app.pub)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
		return
	}
	now := s.clk.Now()
	wantAud := "https://" + LoginHost
	if host == TestHost {
		wantAud = "https://" + TestHost
	}
	audOK := false
	for _, v := range a.Aud {
		if strings.TrimSuffix(v, "/") == wantAud {
			audOK = true
		}
	}
	if !audOK {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "audience is invalid")
		return
	}
	exp := time.Unix(int64(a.Exp), 0)
	if !exp.After(now) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "expired authorization code")
		return
	}
	if exp.After(now.Add(s.maxAssertion)) {
		// Salesforce requires exp within 3 minutes; a longer-lived assertion
		// is refused rather than trusted.
		oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
		return
	}
	s.mu.Lock()
	u := s.users[strings.ToLower(a.Sub)]
	approved := app.approved[strings.ToLower(a.Sub)]
	s.mu.Unlock()
	if u == nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid assertion")
		return
	}
	if !approved {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "user hasn't approved this consumer")
		return
	}
	token := s.orgID[:15] + "!" + randomToken(48)
	s.mu.Lock()
	s.sessions[token] = &session{user: u, expires: now.Add(s.sessionTTL)}
	s.mu.Unlock()
	idURL := "https://" + LoginHost + "/id/" + s.orgID + "/" + u.ID
	issuedAt := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, app.secret)
	mac.Write([]byte(idURL + issuedAt))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": token,
		"scope":        "api",
		"instance_url": s.InstanceURL(),
		"id":           idURL,
		"token_type":   "Bearer",
		"issued_at":    issuedAt,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
	})
}

// ExpireSessions invalidates every issued access token.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	s.sessions = map[string]*session{}
	s.mu.Unlock()
}

// authenticate returns the session's user or writes the 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*User, bool) {
	h := r.Header.Get("Authorization")
	var tok string
	if strings.HasPrefix(h, "Bearer ") {
		tok = strings.TrimSpace(h[len("Bearer "):])
	} else if strings.HasPrefix(h, "OAuth ") {
		tok = strings.TrimSpace(h[len("OAuth "):])
	}
	now := s.clk.Now()
	s.mu.Lock()
	sess := s.sessions[tok]
	if sess != nil && !now.Before(sess.expires) {
		delete(s.sessions, tok)
		sess = nil
	}
	s.mu.Unlock()
	if tok == "" || sess == nil {
		w.Header().Set("WWW-Authenticate", "Token")
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "Session expired or invalid", ErrorCode: "INVALID_SESSION_ID"})
		return nil, false
	}
	return sess.user, true
}
