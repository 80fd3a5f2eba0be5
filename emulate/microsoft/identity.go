package microsoft

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Tenant describes a directory to register.
type Tenant struct {
	ID      string   `json:"id"`
	Domains []string `json:"domains,omitempty"` // e.g. contoso.onmicrosoft.com
}

// App describes an app registration (a confidential client) in a tenant.
type App struct {
	TenantID string `json:"tenantId"`
	ClientID string `json:"clientId"`
	// ClientSecret, when set, lets the app authenticate with client_secret.
	ClientSecret string `json:"clientSecret,omitempty"`
	// CertificatePEM holds one or more PEM certificates whose RSA keys may
	// sign client assertions.
	CertificatePEM string `json:"certificatePem,omitempty"`
	// Permissions are the application permissions (roles) granted, such as
	// Contacts.ReadWrite or Calendars.Read; empty grants all.
	Permissions []string `json:"permissions,omitempty"`
}

// AddTenant registers a tenant.
func (s *Server) AddTenant(t Tenant) error {
	if t.ID == "" {
		return errors.New("tenant id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.ToLower(t.ID)
	s.tenants[id] = &tenant{ID: id, Domains: t.Domains}
	for _, d := range t.Domains {
		s.domains[strings.ToLower(d)] = id
	}
	return nil
}

// AddApp registers an app; the tenant must exist.
func (s *Server) AddApp(a App) error {
	if a.ClientID == "" {
		return errors.New("client id is required")
	}
	if a.ClientSecret == "" && a.CertificatePEM == "" {
		return errors.New("an app needs a client secret or a certificate")
	}
	ap := &app{clientID: strings.ToLower(a.ClientID)}
	if a.ClientSecret != "" {
		h := sha256.Sum256([]byte(a.ClientSecret))
		ap.secretHash = h[:]
	}
	rest := []byte(a.CertificatePEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("app %s: parse certificate: %w", a.ClientID, err)
		}
		ap.certs = append(ap.certs, c)
	}
	if a.CertificatePEM != "" && len(ap.certs) == 0 {
		return fmt.Errorf("app %s: no CERTIFICATE block in certificatePem", a.ClientID)
	}
	if len(a.Permissions) > 0 {
		ap.permissions = map[string]bool{}
		for _, p := range a.Permissions {
			ap.permissions[strings.ToLower(p)] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tid := s.resolveTenantLocked(a.TenantID)
	if tid == "" {
		return fmt.Errorf("app %s: unknown tenant %q", a.ClientID, a.TenantID)
	}
	ap.tenantID = tid
	s.apps[ap.clientID] = ap
	return nil
}

// Tenants lists the registered tenants.
func (s *Server) Tenants() []Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, Tenant{ID: t.ID, Domains: t.Domains})
	}
	return out
}

// AppInfo is what the admin API lists about an app: never its secret.
type AppInfo struct {
	TenantID    string   `json:"tenantId"`
	ClientID    string   `json:"clientId"`
	HasSecret   bool     `json:"hasSecret"`
	Thumbprints []string `json:"certificateThumbprints,omitempty"` // x5t
	Permissions []string `json:"permissions,omitempty"`
}

// Apps lists the registered apps without their secrets.
func (s *Server) Apps() []AppInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AppInfo
	for _, a := range s.apps {
		ai := AppInfo{TenantID: a.tenantID, ClientID: a.clientID, HasSecret: a.secretHash != nil}
		for _, c := range a.certs {
			t, _ := thumbprints(c)
			ai.Thumbprints = append(ai.Thumbprints, t)
		}
		for p := range a.permissions {
			ai.Permissions = append(ai.Permissions, p)
		}
		out = append(out, ai)
	}
	return out
}

func (s *Server) resolveTenantLocked(name string) string {
	n := strings.ToLower(name)
	if _, ok := s.tenants[n]; ok {
		return n
	}
	return s.domains[n]
}

// aadError writes an Entra (AADSTS) error body.
func aadError(w http.ResponseWriter, now time.Time, status int, errCode string, code int, msg string) {
	trace, corr := newGUID(), newGUID()
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error": errCode,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			code, msg, trace, corr, ts),
		"error_codes":    []int{code},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("https://%s/error?code=%d", LoginHost, code),
	})
}

const jwtBearerType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is the clock skew tolerated on exp and nbf.
const assertionSkew = 5 * time.Minute

// serveLogin handles POST /{tenant}/oauth2/v2.0/token.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	w.Header().Set("Cache-Control", "no-store, no-cache")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[1] != "oauth2" || parts[2] != "v2.0" || parts[3] != "token" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		aadError(w, now, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		aadError(w, now, http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
		return
	}
	f := r.PostForm
	tenantSeg := parts[0]

	s.mu.Lock()
	defer s.mu.Unlock()
	tid := s.resolveTenantLocked(tenantSeg)
	if tid == "" {
		aadError(w, now, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", truncate(tenantSeg, 64)))
		return
	}
	gt := f.Get("grant_type")
	if gt == "" {
		aadError(w, now, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if gt != "client_credentials" {
		aadError(w, now, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+truncate(gt, 40)+"'.")
		return
	}
	clientID, basicSecret, hasBasic := r.BasicAuth()
	if hasBasic {
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
		if v, err := url.QueryUnescape(clientID); err == nil {
			clientID = v
		}
		if v, err := url.QueryUnescape(basicSecret); err == nil {
			basicSecret = v
		}
	} else {
		clientID = f.Get("client_id")
	}
	if clientID == "" {
		aadError(w, now, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	ap := s.apps[strings.ToLower(clientID)]
	if ap == nil || ap.tenantID != tid {
		aadError(w, now, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", truncate(clientID, 64), tid))
		return
	}
	scope := f.Get("scope")
	if scope == "" {
		aadError(w, now, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if status, ec, code, msg := checkScope(scope); code != 0 {
		aadError(w, now, status, ec, code, msg)
		return
	}
	secret := f.Get("client_secret")
	if hasBasic {
		secret = basicSecret
	}
	assertionStr := f.Get("client_assertion")
	switch {
	case secret != "" && assertionStr != "":
		aadError(w, now, http.StatusBadRequest, "invalid_request", 9002313, "Invalid request. Request is malformed or invalid: only one of 'client_assertion' or 'client_secret' may be presented.")
		return
	case secret != "":
		h := sha256.Sum256([]byte(secret))
		if ap.secretHash == nil || subtle.ConstantTimeCompare(h[:], ap.secretHash) != 1 {
			aadError(w, now, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", ap.clientID))
			return
		}
	case assertionStr != "":
		if f.Get("client_assertion_type") != jwtBearerType {
			aadError(w, now, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion_type' with value '"+jwtBearerType+"'.")
			return
		}
		if code, msg := s.checkAssertionLocked(ap, tid, tenantSeg, assertionStr, now); code != 0 {
			aadError(w, now, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
	default:
		aadError(w, now, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	tok := randomToken()
	s.tokens[tok] = &accessToken{tenantID: tid, clientID: ap.clientID, expires: now.Add(s.opts.TokenLifetime)}
	s.pruneTokensLocked(now)
	secs := int(s.opts.TokenLifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

// checkScope accepts exactly the Graph resource with /.default, as the
// client-credentials grant requires.
func checkScope(scope string) (status int, errCode string, code int, msg string) {
	fields := strings.Fields(scope)
	if len(fields) != 1 || !strings.HasSuffix(fields[0], "/.default") {
		return http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", truncate(scope, 128))
	}
	res := strings.TrimSuffix(fields[0], "/.default")
	switch strings.ToLower(res) {
	case "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000":
		return 0, "", 0, ""
	}
	return http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", truncate(res, 128))
}

// checkAssertionLocked verifies a client assertion: structure, x5t naming a
// registered certificate, signature, iss = sub = client_id, aud = the token
// endpoint, exp/nbf, jti not replayed. It returns an AADSTS code, 0 if good.
// Messages never include the assertion itself.
func (s *Server) checkAssertionLocked(ap *app, tid, tenantSeg, tok string, now time.Time) (int, string) {
	a, err := parseAssertion(tok)
	if err != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	if len(ap.certs) == 0 {
		return 700027, "Client assertion failed signature validation. The application has no certificate credentials."
	}
	c := a.findCert(ap.certs)
	if c == nil {
		return 700027, "The certificate with identifier used to sign the client assertion is not registered on application."
	}
	if err := a.verify(c); err != nil {
		return 700027, "Client assertion failed signature validation."
	}
	if !strings.EqualFold(a.iss, ap.clientID) || !strings.EqualFold(a.sub, ap.clientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	if !s.audienceOKLocked(a.aud, tid) {
		return 700023, "Client assertion audience claim does not match Realm issuer."
	}
	if !a.hasExp || a.jti == "" {
		return 50027, "JWT token is invalid or malformed. The claims 'exp' and 'jti' are required."
	}
	exp := time.Unix(a.exp, 0)
	if now.After(exp.Add(assertionSkew)) {
		return 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid to: %s.", now.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
	}
	if a.hasNbf && time.Unix(a.nbf, 0).After(now.Add(assertionSkew)) {
		return 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from: %s.", now.UTC().Format(time.RFC3339), time.Unix(a.nbf, 0).UTC().Format(time.RFC3339))
	}
	if len(s.jtis) >= s.jtiPruneAt {
		for k, e := range s.jtis {
			if now.After(e.Add(assertionSkew)) {
				delete(s.jtis, k)
			}
		}
		s.jtiPruneAt = max(pruneFloor, 2*len(s.jtis))
	}
	key := ap.clientID + "\x00" + a.jti
	if _, seen := s.jtis[key]; seen {
		return 70002, "Error validating credentials. The client assertion has already been used (jti replay)."
	}
	s.jtis[key] = exp
	return 0, ""
}

func (s *Server) audienceOKLocked(aud []string, tid string) bool {
	for _, a := range aud {
		u := strings.ToLower(strings.TrimSuffix(a, "/"))
		const pre = "https://" + LoginHost + "/"
		const suf = "/oauth2/v2.0/token"
		if !strings.HasPrefix(u, pre) || !strings.HasSuffix(u, suf) {
			continue
		}
		seg := strings.TrimSuffix(strings.TrimPrefix(u, pre), suf)
		if seg != "" && !strings.Contains(seg, "/") && s.resolveTenantLocked(seg) == tid {
			return true
		}
	}
	return false
}

func (s *Server) pruneTokensLocked(now time.Time) {
	if len(s.tokens) < s.tokenPruneAt {
		return
	}
	for k, t := range s.tokens {
		if t.revoked || now.After(t.expires) {
			delete(s.tokens, k)
		}
	}
	s.tokenPruneAt = max(pruneFloor, 2*len(s.tokens))
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
