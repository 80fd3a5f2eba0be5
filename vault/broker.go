package vault

import (
	"container/list"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"
)

// ErrNoCredential: Authorize could not produce a credential. The error text
// is safe to show a client (it never holds a secret value).
var ErrNoCredential = errors.New("no credential available")

// Injection is what the proxy adds to an upstream request.
type Injection struct {
	Credential string
	Header     string // "Authorization", or the header kind's header
	Value      string // "Bearer …" / "Basic …": never log it
	TokenFP    string
	// InstanceHost is the host of Salesforce's instance_url; "" otherwise.
	InstanceHost string
	Expiry       time.Time
}

// Token event kinds.
const (
	EventToken      = "token"      // a request to a token endpoint (or a store read for basic/header)
	EventShared     = "shared"     // a token another replica fetched, taken from the shared cache
	EventRotation   = "rotation"   // a secret or key moved to a new store version
	EventInvalidate = "invalidate" // the proxy reported a 401 for a token
)

// TokenEvent reports token activity; it never carries a token or secret.
type TokenEvent struct {
	Kind       string
	Credential string
	Subject    string
	Outcome    string // "ok" or "error"
	Reason     string // why it failed; safe to log
	TokenFP    string
	Expiry     time.Time
	// Secret and versions: for EventRotation, the secret that moved.
	Secret            string
	SecretVersion     int
	PrevSecretVersion int
	Duration          time.Duration
}

// TokenFP is the short fingerprint of a token used in logs and audit: the
// first 12 hex characters of its SHA-256.
func TokenFP(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])[:12]
}

// BrokerOptions configures a Broker.
type BrokerOptions struct {
	// HTTPClient sends token requests (the gateway's upstream TLS policy).
	HTTPClient *http.Client
	// OnToken receives every token request and rotation; may be nil.
	OnToken func(ctx context.Context, ev TokenEvent)
	Now     func() time.Time
	Logger  zerolog.Logger // the zero Logger logs nothing
	// Transit signs with Vault Transit keys ({transit: KEY}); a
	// *VaultStore's Transit() when the store is Vault.
	Transit Signer
	// RefreshBefore: refresh a token this long before it expires (5m).
	RefreshBefore time.Duration
	// MaxAge: refresh at least this often whatever the token says (1h).
	MaxAge time.Duration
	// RetryMin/RetryMax bound the backoff after a failed refresh (1s, 1m).
	RetryMin, RetryMax time.Duration
	// NoSharedCache disables sharing tokens through a TokenCache store.
	NoSharedCache bool
	// RequestTimeout bounds one token request (30s).
	RequestTimeout time.Duration
	// InvalidateInterval: at most one invalidation (upstream 401) per
	// credential and subject in this interval (30s), so an upstream that
	// refuses every token cannot make the broker fetch one per request.
	InvalidateInterval time.Duration
	// MaxCached bounds the cached tokens and failures (per credential and
	// subject); the least recently used is dropped first (10000).
	MaxCached int
}

// Broker obtains, caches and refreshes upstream credentials.
type Broker struct {
	creds map[string]*CredentialConfig
	store Store
	tc    TokenCache
	o     BrokerOptions
	log   zerolog.Logger
	sf    singleflight.Group

	mu       sync.Mutex
	cache    map[string]*entry // LRU-bounded by MaxCached, through lru
	lru      *list.List        // of cache keys, most recently used first
	versions map[string]int    // credential|secret -> last version used
}

// entry is the state of one (credential, subject): its token, or, with no
// usable token, its last failure (a negative cache entry).
type entry struct {
	inj       Injection
	fetched   time.Time
	expiry    time.Time // when the token stops working
	retryAt   time.Time // after a failed refresh: no new attempt before
	failures  int
	lastError string
	err       error // the last failure, returned until retryAt when no token is usable

	invalidFP     string    // fingerprint the proxy reported (401)
	invalidatedAt time.Time // when; at most one per InvalidateInterval
	elem          *list.Element
}

// NewBroker validates the credentials and returns a broker. ctx is unused
// today beyond validation; the broker starts no goroutine.
func NewBroker(ctx context.Context, creds map[string]CredentialConfig, store Store, o BrokerOptions) (*Broker, error) {
	b := &Broker{creds: map[string]*CredentialConfig{}, store: store, o: o,
		cache: map[string]*entry{}, lru: list.New(), versions: map[string]int{}}
	if b.o.HTTPClient == nil {
		b.o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if b.o.Now == nil {
		b.o.Now = time.Now
	}
	b.log = b.o.Logger
	if b.o.RefreshBefore <= 0 {
		b.o.RefreshBefore = 5 * time.Minute
	}
	if b.o.MaxAge <= 0 {
		b.o.MaxAge = time.Hour
	}
	if b.o.RetryMin <= 0 {
		b.o.RetryMin = time.Second
	}
	if b.o.RetryMax <= 0 {
		b.o.RetryMax = time.Minute
	}
	if b.o.RequestTimeout <= 0 {
		b.o.RequestTimeout = 30 * time.Second
	}
	if b.o.InvalidateInterval <= 0 {
		b.o.InvalidateInterval = 30 * time.Second
	}
	if b.o.MaxCached <= 0 {
		b.o.MaxCached = 10000
	}
	if tc, ok := store.(TokenCache); ok && !o.NoSharedCache {
		b.tc = tc
	}
	names := make([]string, 0, len(creds))
	for n := range creds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := creds[n]
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("credential %q: %w", n, err)
		}
		if c.PrivateKey != nil && c.PrivateKey.Transit != "" && b.o.Transit == nil {
			return nil, fmt.Errorf("credential %q: private_key names transit key %q but the secret store is not Vault", n, c.PrivateKey.Transit)
		}
		if store == nil {
			return nil, errors.New("token broker: no secret store")
		}
		b.creds[n] = &c
	}
	return b, nil
}

func cacheKey(credential, subject string) string { return credential + "\x00" + subject }

// NormalizeSubject is the form of a subject the broker keys its cache by
// and puts in assertions: surrounding space trimmed, the domain in ASCII
// lower case, and, for identity providers that compare addresses without
// regard to case (Google Workspace, Salesforce usernames), the whole
// address. Non-ASCII letters are left alone: Unicode case folding would
// map distinct addresses (a KELVIN SIGN and a k) to one.
func NormalizeSubject(c *CredentialConfig, subject string) string {
	subject = strings.TrimSpace(subject)
	if c.Type == TypeGoogleSA || c.Type == TypeJWTBearer {
		return asciiLower(subject)
	}
	if i := strings.LastIndexByte(subject, '@'); i >= 0 {
		return subject[:i] + asciiLower(subject[i:])
	}
	return subject
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// get returns key's entry and marks it most recently used. b.mu held.
func (b *Broker) get(key string) *entry {
	e := b.cache[key]
	if e != nil && e.elem != nil {
		b.lru.MoveToFront(e.elem)
	}
	return e
}

// put stores key's entry, dropping the least recently used beyond
// MaxCached. b.mu held.
func (b *Broker) put(key string, e *entry) {
	if old := b.cache[key]; old != nil && old.elem != nil {
		b.lru.Remove(old.elem)
	}
	e.elem = b.lru.PushFront(key)
	b.cache[key] = e
	for b.lru.Len() > b.o.MaxCached {
		last := b.lru.Back()
		b.lru.Remove(last)
		delete(b.cache, last.Value.(string))
	}
}

func (e *entry) fresh(now time.Time, o *BrokerOptions) bool {
	return e.invalidFP != e.inj.TokenFP && now.Before(e.expiry.Add(-o.RefreshBefore)) && now.Before(e.fetched.Add(o.MaxAge))
}

// usable: the token still works (and was not refused upstream).
func (e *entry) usable(now time.Time) bool {
	return e.inj.Value != "" && e.invalidFP != e.inj.TokenFP && now.Before(e.expiry)
}

func noCred(credential, format string, args ...any) error {
	return fmt.Errorf("%w: credential %q: %s", ErrNoCredential, credential, fmt.Sprintf(format, args...))
}

// Authorize returns the header to inject for credential acting as subject.
// Cached tokens are reused until they are due; concurrent callers share one
// token request; a failed refresh keeps a still-valid token.
func (b *Broker) Authorize(ctx context.Context, credential, subject string) (*Injection, error) {
	c, ok := b.creds[credential]
	if !ok {
		return nil, noCred(credential, "not configured")
	}
	if !c.perSubject() {
		subject = ""
	} else if subject = NormalizeSubject(c, subject); subject == "" {
		return nil, noCred(credential, "this credential acts per user and the request names no subject")
	}
	key := cacheKey(credential, subject)
	now := b.o.Now()
	b.mu.Lock()
	e := b.get(key)
	if e != nil && (e.fresh(now, &b.o) || (e.usable(now) && now.Before(e.retryAt))) {
		inj := e.inj
		b.mu.Unlock()
		return &inj, nil
	}
	if e != nil && !e.usable(now) && e.err != nil && now.Before(e.retryAt) {
		// Negative cache: the last attempt failed; not again before retryAt.
		err := e.err
		b.mu.Unlock()
		return nil, err
	}
	b.mu.Unlock()

	// The flight must not die with the first caller's context.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.o.RequestTimeout)
	defer cancel()
	v, err, _ := b.sf.Do(key, func() (any, error) { return b.refresh(fctx, c, credential, subject, key) })
	if err != nil {
		return nil, err
	}
	inj := v.(Injection)
	return &inj, nil
}

// Invalidate drops the cached token with fingerprint tokenFP (the proxy saw
// a 401 with it), so the next Authorize fetches a fresh one. A fingerprint
// that is no longer current is ignored, so N reports cause one refresh, and
// a credential and subject is invalidated at most once per
// InvalidateInterval, so an upstream that refuses every token (a subject
// without a mailbox, say) costs one token request per interval, not one
// per client request.
func (b *Broker) Invalidate(credential, subject string, tokenFP string) {
	c, ok := b.creds[credential]
	if !ok {
		return
	}
	if !c.perSubject() {
		subject = ""
	} else {
		subject = NormalizeSubject(c, subject)
	}
	key := cacheKey(credential, subject)
	now := b.o.Now()
	b.mu.Lock()
	e := b.cache[key]
	hit := e != nil && e.inj.TokenFP == tokenFP && e.invalidFP != tokenFP &&
		(e.invalidatedAt.IsZero() || now.Sub(e.invalidatedAt) >= b.o.InvalidateInterval)
	if hit {
		e.invalidFP, e.invalidatedAt = tokenFP, now
	}
	b.mu.Unlock()
	if hit {
		b.log.Info().Str("credential", credential).Str("subject", subject).Str("token_fp", tokenFP).Msg("token invalidated after upstream 401")
		b.emit(context.Background(), TokenEvent{Kind: EventInvalidate, Credential: credential, Subject: subject, Outcome: "ok", TokenFP: tokenFP})
	}
}

func (b *Broker) emit(ctx context.Context, ev TokenEvent) {
	if b.o.OnToken != nil {
		b.o.OnToken(ctx, ev)
	}
}

func (b *Broker) backoff(failures int) time.Duration {
	d := b.o.RetryMin
	for i := 1; i < failures && d < b.o.RetryMax; i++ {
		d *= 2
	}
	return min(d, b.o.RetryMax)
}

// refresh runs inside the single flight for key.
func (b *Broker) refresh(ctx context.Context, c *CredentialConfig, credential, subject, key string) (Injection, error) {
	now := b.o.Now()
	b.mu.Lock()
	old := b.get(key)
	if old != nil && old.fresh(now, &b.o) { // a flight that just ended did the work
		inj := old.inj
		b.mu.Unlock()
		return inj, nil
	}
	invalidFP := ""
	if old != nil {
		invalidFP = old.invalidFP
	}
	b.mu.Unlock()

	ne, err := b.obtain(ctx, c, credential, subject, invalidFP)
	if err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if old == nil || b.cache[key] != old {
			old = &entry{}
			b.put(key, old)
		}
		if !old.usable(now) {
			// No token to fall back on: remember the failure, with
			// backoff, so a subject the IdP refuses is not asked for
			// at the clients' rate.
			old.failures++
			old.retryAt = now.Add(b.backoff(old.failures))
			old.lastError, old.err = err.Error(), err
			return Injection{}, err
		}
		old.failures++
		old.retryAt = now.Add(b.backoff(old.failures))
		old.lastError = err.Error()
		b.log.Warn().Str("credential", credential).Str("subject", subject).Str("token_fp", old.inj.TokenFP).
			Time("expiry", old.expiry).Time("retry_at", old.retryAt).Str("error", err.Error()).
			Msg("token refresh failed; keeping the current token")
		return old.inj, nil
	}
	b.mu.Lock()
	if old != nil {
		// Keep the invalidation history: the interval applies per
		// credential and subject, across tokens.
		ne.invalidatedAt = old.invalidatedAt
		if old.invalidFP == ne.inj.TokenFP {
			ne.invalidFP = old.invalidFP
		}
	}
	b.put(key, ne)
	b.mu.Unlock()
	return ne.inj, nil
}

// sharedToken is a token as kept in the shared (Vault KV) cache.
type sharedToken struct {
	Header      string    `json:"header"`
	Value       string    `json:"value"`
	InstanceURL string    `json:"instance_url,omitempty"`
	Expiry      time.Time `json:"expiry"`
	Fetched     time.Time `json:"fetched"`
}

func sharedKey(credential, subject string) string {
	if subject == "" {
		return credential + "/_app"
	}
	h := sha256.Sum256([]byte(subject))
	return credential + "/" + hex.EncodeToString(h[:16])
}

func (b *Broker) entryFromShared(credential string, st *sharedToken) *entry {
	return &entry{inj: Injection{Credential: credential, Header: st.Header, Value: st.Value, TokenFP: TokenFP(st.Value),
		InstanceHost: instanceHost(st.InstanceURL), Expiry: st.Expiry}, fetched: st.Fetched, expiry: st.Expiry}
}

func instanceHost(u string) string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// obtain gets a token: from the shared cache when another replica has a
// fresh one, else from the token endpoint, then publishes it with CAS.
func (b *Broker) obtain(ctx context.Context, c *CredentialConfig, credential, subject, invalidFP string) (*entry, error) {
	useShared := b.tc != nil && c.Type != TypeBasic && c.Type != TypeHeader
	skey := sharedKey(credential, subject)
	casVersion := -1
	if useShared {
		if e, ver, err := b.readShared(ctx, credential, skey, invalidFP); err == nil {
			if e != nil {
				b.log.Debug().Str("credential", credential).Str("subject", subject).Str("token_fp", e.inj.TokenFP).Msg("token from shared cache")
				b.emit(ctx, TokenEvent{Kind: EventShared, Credential: credential, Subject: subject, Outcome: "ok", TokenFP: e.inj.TokenFP, Expiry: e.expiry})
				return e, nil
			}
			casVersion = ver
		} else {
			b.log.Warn().Str("credential", credential).Str("error", err.Error()).Msg("shared token cache unreadable")
		}
	}
	start := time.Now()
	e, err := b.fetch(ctx, c, credential, subject)
	ev := TokenEvent{Kind: EventToken, Credential: credential, Subject: subject, Duration: time.Since(start)}
	if err != nil {
		ev.Outcome, ev.Reason = "error", err.Error()
		b.emit(ctx, ev)
		b.log.Warn().Str("credential", credential).Str("subject", subject).Str("error", err.Error()).Msg("token request failed")
		return nil, err
	}
	ev.Outcome, ev.TokenFP, ev.Expiry = "ok", e.inj.TokenFP, e.expiry
	b.emit(ctx, ev)
	b.log.Info().Str("credential", credential).Str("subject", subject).Str("token_fp", e.inj.TokenFP).Time("expiry", e.expiry).Msg("token obtained")
	if useShared && casVersion >= 0 {
		st := sharedToken{Header: e.inj.Header, Value: e.inj.Value, Expiry: e.expiry, Fetched: e.fetched}
		if e.inj.InstanceHost != "" {
			st.InstanceURL = "https://" + e.inj.InstanceHost
		}
		data, _ := json.Marshal(st)
		err := b.tc.PutToken(ctx, skey, data, casVersion)
		if errors.Is(err, ErrCASMismatch) {
			// Another replica won: use its token so all share one.
			if we, _, rerr := b.readShared(ctx, credential, skey, invalidFP); rerr == nil && we != nil {
				return we, nil
			}
		} else if err != nil {
			b.log.Warn().Str("credential", credential).Str("error", err.Error()).Msg("shared token cache not updated")
		}
	}
	return e, nil
}

// readShared returns a fresh shared entry (nil if none) and the entry's
// version for the CAS write (0: absent).
func (b *Broker) readShared(ctx context.Context, credential, skey, invalidFP string) (*entry, int, error) {
	data, ver, err := b.tc.GetToken(ctx, skey)
	if errors.Is(err, ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var st sharedToken
	if json.Unmarshal(data, &st) != nil || st.Value == "" {
		return nil, ver, nil
	}
	e := b.entryFromShared(credential, &st)
	if e.inj.TokenFP == invalidFP || !e.fresh(b.o.Now(), &b.o) {
		return nil, ver, nil
	}
	return e, ver, nil
}

// readSecret reads a store secret and reports a version change (rotation).
func (b *Broker) readSecret(ctx context.Context, credential, name string) ([]byte, error) {
	s, err := b.store.Get(ctx, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, noCred(credential, "secret %q is not in the store", name)
		}
		return nil, noCred(credential, "secret store: %s", describeStoreErr(err))
	}
	vk := credential + "\x00" + name
	b.mu.Lock()
	prev := b.versions[vk]
	b.versions[vk] = s.Version
	b.mu.Unlock()
	if prev != 0 && prev != s.Version {
		b.log.Info().Str("credential", credential).Str("secret", name).Int("from", prev).Int("to", s.Version).Msg("secret rotated; using the new version")
		b.emit(ctx, TokenEvent{Kind: EventRotation, Credential: credential, Outcome: "ok", Secret: name, SecretVersion: s.Version, PrevSecretVersion: prev})
	}
	return s.Value, nil
}

// fetch asks the token endpoint (or the store, for basic/header).
func (b *Broker) fetch(ctx context.Context, c *CredentialConfig, credential, subject string) (*entry, error) {
	now := b.o.Now()
	e := &entry{fetched: now}
	e.inj.Credential = credential
	e.inj.Header = "Authorization"
	switch c.Type {
	case TypeBasic:
		pw, err := b.readSecret(ctx, credential, c.Password.Secret)
		if err != nil {
			return nil, err
		}
		e.inj.Value = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+string(pw)))
		e.expiry = now.Add(2 * b.o.MaxAge) // a static value: re-read hourly, usable through a store outage
	case TypeHeader:
		v, err := b.readSecret(ctx, credential, c.Value.Secret)
		if err != nil {
			return nil, err
		}
		e.inj.Header, e.inj.Value = c.Header, string(v)
		e.expiry = now.Add(2 * b.o.MaxAge)
	default:
		tok, err := b.tokenRequest(ctx, c, credential, subject, now)
		if err != nil {
			return nil, err
		}
		typ := tok.Type()
		if typ == "" {
			typ = "Bearer"
		}
		e.inj.Value = typ + " " + tok.AccessToken
		e.expiry = now.Add(b.o.MaxAge) // Salesforce sends no expires_in
		if secs := expiresIn(tok); secs > 0 {
			e.expiry = now.Add(time.Duration(secs) * time.Second)
		}
		if iu, _ := tok.Extra("instance_url").(string); iu != "" {
			e.inj.InstanceHost = instanceHost(iu)
		}
	}
	e.inj.TokenFP = TokenFP(e.inj.Value)
	e.inj.Expiry = e.expiry
	return e, nil
}

func expiresIn(t *oauth2.Token) int64 {
	switch v := t.Extra("expires_in").(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

func (b *Broker) tokenRequest(ctx context.Context, c *CredentialConfig, credential, subject string, now time.Time) (*oauth2.Token, error) {
	cc := clientcredentials.Config{TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{}}
	switch c.Type {
	case TypeClientCredentials:
		cc.ClientID = c.ClientID
		cc.Scopes = c.scopes()
		if c.ClientSecret != nil {
			sec, err := b.readSecret(ctx, credential, c.ClientSecret.Secret)
			if err != nil {
				return nil, err
			}
			cc.ClientSecret = string(sec)
		} else {
			x5t, err := b.x5t(ctx, c, credential)
			if err != nil {
				return nil, err
			}
			assertion, err := b.signJWT(ctx, c, credential, map[string]any{"x5t": x5t}, map[string]any{
				"aud": c.TokenURL, "iss": c.ClientID, "sub": c.ClientID, "jti": randomID(),
				"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
			})
			if err != nil {
				return nil, err
			}
			cc.EndpointParams.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			cc.EndpointParams.Set("client_assertion", assertion)
		}
	case TypeGoogleSA:
		iss := c.Issuer
		if iss == "" {
			iss = c.ClientID
		}
		hdr := map[string]any{}
		if c.KeyID != "" {
			hdr["kid"] = c.KeyID
		}
		assertion, err := b.signJWT(ctx, c, credential, hdr, map[string]any{
			"iss": iss, "sub": subject, "aud": c.TokenURL, "scope": joinScopes(c.scopes()),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		if err != nil {
			return nil, err
		}
		cc.EndpointParams.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		cc.EndpointParams.Set("assertion", assertion)
	case TypeJWTBearer:
		user, err := c.username(subject)
		if err != nil {
			return nil, noCred(credential, "%v", err)
		}
		assertion, err := b.signJWT(ctx, c, credential, map[string]any{}, map[string]any{
			"iss": c.ClientID, "sub": user, "aud": c.Audience, "exp": now.Add(3 * time.Minute).Unix(),
		})
		if err != nil {
			return nil, err
		}
		cc.EndpointParams.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		cc.EndpointParams.Set("assertion", assertion)
	}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, b.o.HTTPClient)
	tok, err := cc.Token(hctx)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// Only the status and the OAuth error code: bodies may echo
			// input. The code itself comes from the endpoint and reaches
			// clients in a 503 reason: only a short RFC 6749 code passes.
			code := oauthErrorCode(re.ErrorCode)
			return nil, noCred(credential, "token endpoint answered %d (%s)", re.Response.StatusCode, code)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, noCred(credential, "token request to %s failed: %v", redactURL(ue.URL), ue.Err)
		}
		return nil, noCred(credential, "token request failed: %v", err)
	}
	if tok.AccessToken == "" {
		return nil, noCred(credential, "token endpoint returned no access_token")
	}
	return tok, nil
}

// oauthErrorCode bounds and sanitises a token endpoint's "error" value
// before it is shown to a client or logged: RFC 6749 codes are short
// ASCII words ("invalid_client"), so anything longer or with other
// characters (an echoed secret, markup, control bytes) is replaced.
func oauthErrorCode(code string) string {
	if code == "" {
		return "no error code"
	}
	if len(code) > 64 {
		return "unrecognised error code"
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "unrecognised error code"
		}
	}
	return code
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

func joinScopes(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// x5t is the base64url SHA-1 thumbprint of the certificate Microsoft knows.
func (b *Broker) x5t(ctx context.Context, c *CredentialConfig, credential string) (string, error) {
	if c.KeyID != "" {
		return x5tFromKeyID(c.KeyID)
	}
	var pemBytes []byte
	var err error
	if c.Certificate.File != "" {
		pemBytes, err = os.ReadFile(c.Certificate.File)
		if err != nil {
			return "", noCred(credential, "certificate: %v", err)
		}
	} else {
		pemBytes, err = b.readSecret(ctx, credential, c.Certificate.Secret)
		if err != nil {
			return "", err
		}
	}
	for {
		var blk *pem.Block
		blk, pemBytes = pem.Decode(pemBytes)
		if blk == nil {
			return "", noCred(credential, "certificate: no CERTIFICATE PEM block")
		}
		if blk.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
				return "", noCred(credential, "certificate: %v", err)
			}
			h := sha1.Sum(blk.Bytes)
			return base64.RawURLEncoding.EncodeToString(h[:]), nil
		}
	}
}

// signJWT builds header.claims and signs it, locally with a PEM key from the
// store or remotely with a Transit key.
func (b *Broker) signJWT(ctx context.Context, c *CredentialConfig, credential string, header, claims map[string]any) (string, error) {
	var local crypto.Signer
	alg := ""
	if c.PrivateKey.Secret != "" {
		pemBytes, err := b.readSecret(ctx, credential, c.PrivateKey.Secret)
		if err != nil {
			return "", err
		}
		local, err = parsePrivateKeyPEM(pemBytes)
		if err != nil {
			return "", noCred(credential, "private key %q: %v", c.PrivateKey.Secret, err)
		}
		if alg, err = jwsAlg(local.Public()); err != nil {
			return "", noCred(credential, "private key %q: %v", c.PrivateKey.Secret, err)
		}
	} else {
		ki, err := b.transitAlg(ctx, c.PrivateKey.Transit)
		if err != nil {
			return "", noCred(credential, "transit key %q: %s", c.PrivateKey.Transit, describeStoreErr(err))
		}
		alg = ki
	}
	header["alg"], header["typ"] = alg, "JWT"
	hj, _ := json.Marshal(header)
	cj, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hj) + "." + base64.RawURLEncoding.EncodeToString(cj)
	var sig []byte
	if local != nil {
		var err error
		sig, err = signLocal(local, []byte(input))
		if err != nil {
			return "", noCred(credential, "sign: %v", err)
		}
	} else {
		var salg string
		var err error
		sig, salg, err = b.o.Transit.SignJWT(ctx, c.PrivateKey.Transit, []byte(input))
		if err != nil {
			return "", noCred(credential, "transit key %q: %s", c.PrivateKey.Transit, describeStoreErr(err))
		}
		if salg != alg {
			return "", noCred(credential, "transit key %q changed type during signing", c.PrivateKey.Transit)
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// transitAlg learns the JWS alg of a Transit key from its public key.
func (b *Broker) transitAlg(ctx context.Context, key string) (string, error) {
	pub, err := b.o.Transit.PublicKey(ctx, key)
	if err != nil {
		return "", err
	}
	return jwsAlg(pub)
}

func signLocal(k crypto.Signer, input []byte) ([]byte, error) {
	d := sha256.Sum256(input)
	switch key := k.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
	}
	return nil, errors.New("unsupported key type")
}

// describeStoreErr says what went wrong with the secret store in one short
// line. The error reaches clients in a 503 reason, and the Vault client's own
// messages carry request URLs and response bodies that name internal
// addresses; the full error is in the gateway's log.
func describeStoreErr(err error) string {
	var pe *PermissionError
	if errors.As(err, &pe) {
		return "Vault permission denied: the gateway's policy lacks " + strconv.Quote(pe.Capability) + " on " + pe.Path
	}
	if errors.Is(err, ErrTokenInvalid) {
		return "Vault token expired or revoked, and logging in again failed"
	}
	var re *vaultapi.ResponseError
	if errors.As(err, &re) {
		msg := "Vault answered " + strconv.Itoa(re.StatusCode)
		if ms := vaultMessages(re.Errors); len(ms) > 0 {
			msg += " (" + firstLine(ms[0], 120) + ")"
		}
		return msg
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "Vault unreachable"
	}
	return firstLine(err.Error(), 160)
}

func firstLine(s string, max int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
