package google

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	maxAssertion   = 16 << 10
	// clockSkew tolerates an issuer clock slightly ahead of ours.
	clockSkew = 5 * time.Minute
)

var (
	errUnknownIssuer = errors.New("unknown issuer")
	errKeyID         = errors.New("unknown key id")
)

// tokenAudiences are the audiences Google accepts in a service-account
// assertion: the current token endpoint, the v4 endpoint on
// www.googleapis.com, and the legacy accounts.google.com endpoint that older
// client libraries still name.
var tokenAudiences = []string{TokenURL, TokenURLV4, "https://accounts.google.com/o/oauth2/token"}

// serveOAuth implements POST /token (oauth2.googleapis.com) and POST
// /oauth2/v4/token (www.googleapis.com) for the JWT-bearer grant described
// in "Using OAuth 2.0 for Server to Server Applications".
func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) {
	if host := hostOnly(r.Host); !(host == HostOAuth && r.URL.Path == "/token" || host == HostAPIs && r.URL.Path == "/oauth2/v4/token") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{Error: "invalid_request", Description: "Token requests must use POST"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, oauthError{Error: "invalid_request", Description: "Could not parse the request body"})
		return
	}
	gt := r.PostForm.Get("grant_type")
	if gt == "" {
		writeJSON(w, 400, oauthError{Error: "invalid_request", Description: "Missing required parameter: grant_type"})
		return
	}
	if gt != grantJWTBearer {
		writeJSON(w, 400, oauthError{Error: "unsupported_grant_type", Description: "Invalid grant_type"})
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		writeJSON(w, 400, oauthError{Error: "invalid_request", Description: "Missing required parameter: assertion"})
		return
	}
	tok, exp, oerr := s.exchange(assertion)
	if oerr != nil {
		writeJSON(w, 400, oerr)
		return
	}
	// Google reports one second less than the lifetime (3599 for an hour).
	secs := int(exp.Sub(s.clk.Now())/time.Second) - 1
	writeJSON(w, 200, map[string]any{"access_token": tok, "expires_in": secs, "token_type": "Bearer"})
}

// assertionClaims are the claim set Google documents for the JWT assertion.
type assertionClaims struct {
	Iss   string          `json:"iss"`
	Scope string          `json:"scope"`
	Aud   json.RawMessage `json:"aud"`
	Exp   *json.Number    `json:"exp"`
	Iat   *json.Number    `json:"iat"`
	Sub   string          `json:"sub"`
}

func (c *assertionClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *assertionClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *assertionClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *assertionClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *assertionClaims) GetSubject() (string, error)                  { return c.Sub, nil }
func (c *assertionClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

var invalidTime = &oauthError{Error: "invalid_grant", Description: "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}

// exchange verifies an assertion and issues a token. Errors are the bodies
// Google returns; none of them echo the assertion.
func (s *Server) exchange(assertion string) (string, time.Time, *oauthError) {
	if len(assertion) > maxAssertion {
		return "", time.Time{}, &oauthError{Error: "invalid_grant", Description: "Invalid JWT Signature."}
	}
	var claims assertionClaims
	var sa *ServiceAccount
	p := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	_, err := p.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		s.mu.Lock()
		acct := s.accounts[claims.Iss]
		var cp ServiceAccount
		if acct != nil {
			cp = *acct
		}
		s.mu.Unlock()
		if acct == nil {
			return nil, errUnknownIssuer
		}
		if kid, ok := t.Header["kid"]; ok && cp.KeyID != "" {
			if k, _ := kid.(string); k != cp.KeyID {
				return nil, errKeyID
			}
		}
		sa = &cp
		return cp.key, nil
	})
	switch {
	case errors.Is(err, errUnknownIssuer):
		return "", time.Time{}, &oauthError{Error: "invalid_grant", Description: "Invalid grant: account not found"}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "", time.Time{}, &oauthError{Error: "invalid_grant", Description: "Invalid JWT: malformed assertion"}
	case err != nil:
		return "", time.Time{}, &oauthError{Error: "invalid_grant", Description: "Invalid JWT Signature."}
	}
	var aud string
	if json.Unmarshal(claims.Aud, &aud) != nil || !contains(tokenAudiences, aud) {
		return "", time.Time{}, &oauthError{Error: "invalid_grant", Description: "Invalid JWT: Failed audience check. The right audience is " + TokenURL}
	}
	if claims.Iat == nil || claims.Exp == nil {
		return "", time.Time{}, invalidTime
	}
	iat, err1 := claims.Iat.Int64()
	exp, err2 := claims.Exp.Int64()
	now := s.clk.Now().Unix()
	if err1 != nil || err2 != nil || exp <= iat || exp-iat > 3600 || now >= exp || iat > now+int64(clockSkew/time.Second) {
		return "", time.Time{}, invalidTime
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		return "", time.Time{}, &oauthError{Error: "invalid_scope", Description: "Invalid OAuth scope or ID token audience provided."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := strings.ToLower(strings.TrimSpace(claims.Sub))
	if sub != "" && sub != strings.ToLower(sa.ClientEmail) {
		_, dom, _ := strings.Cut(sub, "@")
		if dom != s.domain || s.users[sub] == nil {
			return "", time.Time{}, &oauthError{Error: "invalid_grant", Description: "Invalid email or User ID"}
		}
		for _, sc := range scopes {
			if !contains(sa.DWDScopes, sc) {
				return "", time.Time{}, &oauthError{Error: "unauthorized_client", Description: "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}
			}
		}
	} else {
		sub = ""
	}
	tok, expiry := s.issueLocked(sa.ClientEmail, sub, scopes)
	return tok, expiry, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
