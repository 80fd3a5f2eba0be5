package vault

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

// Vault's defaults for a dev server: every token and lease gets
// default_lease_ttl = max_lease_ttl = 768h (32 days) unless a role or the
// request says otherwise.
// https://developer.hashicorp.com/vault/docs/configuration#default_lease_ttl
const systemTTL = 768 * time.Hour

// Options configures an Emulator.
type Options struct {
	// Clock drives token TTLs and timestamps; the wall clock when nil.
	Clock clock.Clock
	// RootToken never expires; default "root".
	RootToken string
	// KVMounts are KV v2 mounts; default ["secret"].
	KVMounts []string
	// TransitMount is mounted at start; default "transit". More Transit
	// (and KV) mounts can be enabled through sys/mounts.
	TransitMount string
	// InvalidTokenErrors answers a missing, expired or revoked token as
	// HashiCorp Vault 1.16 and later do, with "invalid token" besides
	// "permission denied"; by default the bare "permission denied" of
	// OpenBao and older Vault versions.
	InvalidTokenErrors bool
}

// Emulator is an http.Handler serving the Vault API subset. Safe for
// concurrent use.
type Emulator struct {
	clk      clock.Clock
	root     string
	badToken *apiError

	mu       sync.Mutex
	sealed   bool
	latency  time.Duration
	mounts   map[string]string // secrets engine mount -> "kv" | "transit"
	auths    map[string]string // auth mount -> "token" | "approle" | "kubernetes"
	kv       map[string]map[string]*kvSecret
	transit  map[string]map[string]*transitKey
	policies map[string]*policy
	tokens   map[string]*token
	roles    map[string]*appRole // "mount/name" -> role
	k8s      map[string]k8sRole
	wrapped  map[string]*wrappedResp
	requests map[string]int
}

// New returns an emulator with the root token, the KV and Transit mounts,
// AppRole and Kubernetes auth enabled, and the built-in policies (root,
// default, response-wrapping).
func New(o Options) *Emulator {
	e := &Emulator{
		clk: o.Clock, root: o.RootToken,
		mounts:   map[string]string{},
		auths:    map[string]string{"token": "token", "approle": "approle", "kubernetes": "kubernetes"},
		kv:       map[string]map[string]*kvSecret{},
		transit:  map[string]map[string]*transitKey{},
		policies: builtinPolicies(),
		tokens:   map[string]*token{}, roles: map[string]*appRole{}, k8s: map[string]k8sRole{},
		wrapped: map[string]*wrappedResp{}, requests: map[string]int{},
	}
	if e.clk == nil {
		e.clk = clock.Real{}
	}
	if e.root == "" {
		e.root = "root"
	}
	e.badToken = errBadToken
	if o.InvalidTokenErrors {
		e.badToken = errInvalidToken
	}
	tm := strings.Trim(o.TransitMount, "/")
	if tm == "" {
		tm = "transit"
	}
	e.mounts[tm] = "transit"
	e.transit[tm] = map[string]*transitKey{}
	mounts := o.KVMounts
	if len(mounts) == 0 {
		mounts = []string{"secret"}
	}
	for _, m := range mounts {
		m = strings.Trim(m, "/")
		e.mounts[m] = "kv"
		e.kv[m] = map[string]*kvSecret{}
	}
	e.tokens[e.root] = &token{id: e.root, accessor: "root-accessor", policies: []string{"root"}, created: e.clk.Now(), path: "auth/token/root"}
	return e
}

// SetSealed seals (true) or unseals (false) the emulator. Sealed, every
// request but sys/health and sys/seal-status fails with 503 and
// {"errors":["Vault is sealed"]}; tokens and data survive, as in Vault.
func (e *Emulator) SetSealed(sealed bool) { e.mu.Lock(); e.sealed = sealed; e.mu.Unlock() }

// SetDown is SetSealed: the Vault API's answer while it cannot serve. (An
// unreachable Vault is a network matter; tests put a relay in front.)
func (e *Emulator) SetDown(down bool) { e.SetSealed(down) }

// SetLatency delays every request by d.
func (e *Emulator) SetLatency(d time.Duration) { e.mu.Lock(); e.latency = d; e.mu.Unlock() }

// Requests returns how many requests were made as "METHOD /v1/path" (query
// string excluded) since the start.
func (e *Emulator) Requests(methodPath string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[methodPath]
}

// AddKubernetesRole makes auth/kubernetes/login accept jwt for role; the
// token gets the default policy and policies.
func (e *Emulator) AddKubernetesRole(role, jwt string, ttl, maxTTL time.Duration, policies ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.k8s[role] = k8sRole{jwt: jwt, ttl: ttl, maxTTL: maxTTL, policies: policies}
}

// CreateToken makes a token with the default policy and ttl and maxTTL
// (0: Vault's system default of 768h), as auth/token/create would.
func (e *Emulator) CreateToken(ttl, maxTTL time.Duration) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.newTokenLocked(tokenParams{path: "auth/token/create", policies: []string{"default"}, ttl: ttl, maxTTL: maxTTL}).id
}

// LiveTokens counts tokens that have not expired (the root token included).
func (e *Emulator) LiveTokens() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	now := e.clk.Now()
	for _, t := range e.tokens {
		if t.live(now) {
			n++
		}
	}
	return n
}

func randID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// apiError is an error response in Vault's shape: {"errors":[...]}.
// https://developer.hashicorp.com/vault/api-docs#error-response
type apiError struct {
	status int
	msgs   []string
}

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msgs: []string{fmt.Sprintf(format, args...)}}
}

var (
	// errBadToken: no token, or one that expired, was revoked or used up.
	// Vault returns logical.ErrPermissionDenied bare from its token check.
	errBadToken = &apiError{status: 403, msgs: []string{"permission denied"}}
	// errInvalidToken: the same, as Vault 1.16 and later answer it.
	// https://developer.hashicorp.com/vault/docs/concepts/tokens#error-responses
	errInvalidToken = &apiError{status: 403, msgs: []string{"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"}}
	// errACLDenied: a live token whose policies do not grant the
	// capability. Vault appends ErrPermissionDenied to a go-multierror,
	// whose Error() is this text.
	errACLDenied = &apiError{status: 403, msgs: []string{"1 error occurred:\n\t* permission denied\n\n"}}
	errNotFound  = &apiError{status: 404, msgs: []string{}}
	errSealed    = &apiError{status: 503, msgs: []string{"Vault is sealed"}}
)

// request is one API call as the handlers see it.
type request struct {
	r      *http.Request
	method string // GET, LIST, POST, PUT, DELETE
	path   string // without /v1/
	body   map[string]any
	remote string // client IP
}

// ServeHTTP implements http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if method == http.MethodGet && r.URL.Query().Get("list") == "true" {
		method = "LIST"
	}
	e.mu.Lock()
	lat := e.latency
	e.requests[method+" "+r.URL.Path]++
	e.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
			return
		}
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeJSON(w, 404, map[string]any{"errors": []string{}})
		return
	}
	req := &request{r: r, method: method, path: strings.TrimPrefix(r.URL.Path, "/v1/"), body: map[string]any{}}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.remote = host
	}
	if r.Body != nil {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &req.body); err != nil {
				writeJSON(w, 400, map[string]any{"errors": []string{"failed to parse JSON input: " + err.Error()}})
				return
			}
		}
	}
	e.mu.Lock()
	status, resp, aerr := e.handle(req)
	e.mu.Unlock()
	if aerr != nil {
		writeJSON(w, aerr.status, map[string]any{"errors": aerr.msgs})
		return
	}
	if status == 204 {
		w.WriteHeader(204)
		return
	}
	writeJSON(w, status, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handle answers one request with e.mu held.
func (e *Emulator) handle(req *request) (int, map[string]any, *apiError) {
	switch req.path {
	case "sys/health":
		return e.health()
	case "sys/seal-status":
		return 200, e.sealStatus(), nil
	}
	if e.sealed {
		return 0, nil, errSealed
	}
	status, resp, aerr := e.route(req)
	if aerr != nil || status != 200 {
		return status, resp, aerr
	}
	// Response wrapping: any response with a body can be wrapped.
	// https://developer.hashicorp.com/vault/docs/concepts/response-wrapping
	if wt := req.r.Header.Get("X-Vault-Wrap-TTL"); wt != "" && req.path != "sys/wrapping/unwrap" {
		ttl, err := parseDuration(wt)
		if err != nil || ttl <= 0 {
			return 0, nil, errf(400, "error parsing wrap TTL")
		}
		return 200, e.wrapLocked(req.path, resp, ttl), nil
	}
	return status, resp, nil
}

// health follows GET sys/health: 200 unsealed, 503 sealed, always with the
// status body. https://developer.hashicorp.com/vault/api-docs/system/health
func (e *Emulator) health() (int, map[string]any, *apiError) {
	body := map[string]any{"initialized": true, "sealed": e.sealed, "standby": false, "performance_standby": false,
		"replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
		"server_time_utc": e.clk.Now().Unix(), "version": "1.20.0-emulated", "cluster_name": "vault-emulator", "cluster_id": "emulated"}
	if e.sealed {
		return 503, body, nil
	}
	return 200, body, nil
}

// sealStatus follows GET sys/seal-status.
// https://developer.hashicorp.com/vault/api-docs/system/seal-status
func (e *Emulator) sealStatus() map[string]any {
	return map[string]any{"type": "shamir", "initialized": true, "sealed": e.sealed, "t": 1, "n": 1, "progress": 0,
		"nonce": "", "version": "1.20.0-emulated", "migration": false, "recovery_seal": false, "storage_type": "inmem"}
}

// route authenticates, checks the ACL and dispatches.
func (e *Emulator) route(req *request) (int, map[string]any, *apiError) {
	// Unauthenticated endpoints: logins and unwrapping with the wrapping
	// token itself.
	if mount, rest, ok := strings.Cut(strings.TrimPrefix(req.path, "auth/"), "/"); ok && strings.HasPrefix(req.path, "auth/") && rest == "login" {
		switch e.auths[mount] {
		case "approle":
			return e.approleLogin(req, mount)
		case "kubernetes":
			return e.k8sLogin(req)
		}
	}
	if req.path == "sys/wrapping/unwrap" {
		if _, inBody := req.body["token"]; !inBody {
			return e.unwrap(req.r.Header.Get("X-Vault-Token"))
		}
	}
	tok := e.authToken(req.r)
	if tok == nil {
		return 0, nil, e.badToken
	}
	h, capability := e.dispatch(req, tok)
	if h == nil {
		return 0, nil, errf(404, "no handler for route %q. route entry not found.", req.path)
	}
	if capability != "" && !e.allowed(tok, req.path, capability, req.method == "LIST") {
		return 0, nil, errACLDenied
	}
	e.useToken(tok)
	return h()
}

type handler func() (int, map[string]any, *apiError)

// dispatch finds the handler and the capability the request needs (Vault:
// GET read, LIST list, DELETE delete, POST/PUT create when the backend's
// existence check says the resource is absent, update otherwise).
// https://developer.hashicorp.com/vault/docs/concepts/policies#capabilities
func (e *Emulator) dispatch(req *request, tok *token) (handler, string) {
	p, m := req.path, req.method
	write := m == http.MethodPost || m == http.MethodPut
	capOf := func(exists bool) string {
		switch {
		case m == http.MethodGet:
			return "read"
		case m == "LIST":
			return "list"
		case m == http.MethodDelete:
			return "delete"
		case write && !exists:
			return "create"
		}
		return "update"
	}
	switch {
	case p == "auth/token/lookup-self":
		return func() (int, map[string]any, *apiError) { return e.lookup(tok) }, "read"
	case p == "auth/token/renew-self":
		return func() (int, map[string]any, *apiError) { return e.renew(tok, req.body) }, "update"
	case p == "auth/token/revoke-self":
		return func() (int, map[string]any, *apiError) { e.revokeLocked(tok); return 204, nil, nil }, "update"
	case p == "auth/token/lookup" || p == "auth/token/revoke" || p == "auth/token/revoke-accessor" || p == "auth/token/renew":
		return func() (int, map[string]any, *apiError) { return e.tokenAdmin(p, req.body) }, "update"
	case p == "auth/token/create" || p == "auth/token/create-orphan":
		return func() (int, map[string]any, *apiError) { return e.tokenCreate(tok, p, req.body) }, "update"
	case p == "sys/wrapping/unwrap":
		return func() (int, map[string]any, *apiError) { wt, _ := req.body["token"].(string); return e.unwrap(wt) }, "update"
	case p == "sys/wrapping/lookup":
		return func() (int, map[string]any, *apiError) { return e.wrapLookup(req) }, "update"
	case strings.HasPrefix(p, "sys/mounts/"):
		return func() (int, map[string]any, *apiError) {
			return e.mountAdmin(req, strings.TrimPrefix(p, "sys/mounts/"))
		}, capOf(true)
	case strings.HasPrefix(p, "sys/auth/"):
		return func() (int, map[string]any, *apiError) { return e.authAdmin(req, strings.TrimPrefix(p, "sys/auth/")) }, capOf(true)
	case p == "sys/policies/acl" || strings.HasPrefix(p, "sys/policies/acl/") || p == "sys/policy" || strings.HasPrefix(p, "sys/policy/"):
		name := p[strings.LastIndex(p, "/")+1:]
		if p == "sys/policies/acl" || p == "sys/policy" {
			name = ""
		}
		_, exists := e.policies[strings.ToLower(name)]
		return func() (int, map[string]any, *apiError) { return e.policyAdmin(req, name) }, capOf(exists)
	case p == "sys/capabilities-self":
		return func() (int, map[string]any, *apiError) { return e.capabilitiesSelf(tok, req.body) }, "update"
	}
	if mount, rest, ok := strings.Cut(strings.TrimPrefix(p, "auth/"), "/"); ok && strings.HasPrefix(p, "auth/") && e.auths[mount] == "approle" {
		if r, ok := strings.CutPrefix(rest, "role"); ok && (r == "" || r[0] == '/') {
			name, _, _ := strings.Cut(strings.TrimPrefix(r, "/"), "/")
			_, exists := e.roles[mount+"/"+name]
			return func() (int, map[string]any, *apiError) { return e.approleAdmin(req, mount, strings.TrimPrefix(r, "/")) }, capOf(exists)
		}
		return nil, ""
	}
	mount, rest, _ := strings.Cut(p, "/")
	switch e.mounts[mount] {
	case "kv":
		store := e.kv[mount]
		op, sp, _ := strings.Cut(rest, "/")
		_, exists := store[sp]
		if op != "data" {
			exists = true
		}
		return func() (int, map[string]any, *apiError) { return e.kvRoute(store, req, rest) }, capOf(exists)
	case "transit":
		keys := e.transit[mount]
		op, tail, _ := strings.Cut(rest, "/")
		name, _, _ := strings.Cut(tail, "/")
		exists := true
		if op == "keys" && tail == name {
			_, exists = keys[name]
		}
		return func() (int, map[string]any, *apiError) { return e.transitRoute(keys, req, rest) }, capOf(exists)
	}
	return nil, ""
}

// mountAdmin enables (POST) and disables (DELETE) secrets engines: "kv"
// (version 2 only) and "transit".
// https://developer.hashicorp.com/vault/api-docs/system/mounts#enable-secrets-engine
func (e *Emulator) mountAdmin(req *request, path string) (int, map[string]any, *apiError) {
	path = strings.Trim(path, "/")
	switch req.method {
	case http.MethodPost, http.MethodPut:
		if _, ok := e.mounts[path]; ok {
			return 0, nil, errf(400, "path is already in use at %s/", path)
		}
		typ, _ := req.body["type"].(string)
		opts, _ := req.body["options"].(map[string]any)
		switch {
		case typ == "transit":
			e.transit[path] = map[string]*transitKey{}
		case typ == "kv-v2" || (typ == "kv" && opts != nil && fmt.Sprint(opts["version"]) == "2"):
			typ = "kv"
			e.kv[path] = map[string]*kvSecret{}
		default:
			return 0, nil, errf(400, "the emulator mounts kv version 2 and transit, not %q", typ)
		}
		e.mounts[path] = typ
		return 204, nil, nil
	case http.MethodDelete:
		delete(e.mounts, path)
		delete(e.kv, path)
		delete(e.transit, path)
		return 204, nil, nil
	}
	return 0, nil, errf(405, "unsupported operation")
}

// authAdmin enables auth methods (approle, kubernetes).
// https://developer.hashicorp.com/vault/api-docs/system/auth#enable-auth-method
func (e *Emulator) authAdmin(req *request, path string) (int, map[string]any, *apiError) {
	path = strings.Trim(path, "/")
	switch req.method {
	case http.MethodPost, http.MethodPut:
		if _, ok := e.auths[path]; ok {
			return 0, nil, errf(400, "path is already in use at auth/%s/", path)
		}
		typ, _ := req.body["type"].(string)
		if typ != "approle" && typ != "kubernetes" {
			return 0, nil, errf(400, "the emulator has approle and kubernetes auth, not %q", typ)
		}
		e.auths[path] = typ
		return 204, nil, nil
	case http.MethodDelete:
		if path != "token" {
			delete(e.auths, path)
		}
		return 204, nil, nil
	}
	return 0, nil, errf(405, "unsupported operation")
}

// --- helpers ---

// durationField reads a Vault duration: seconds as a number, or "90s"/"1h".
func durationField(body map[string]any, key string) (time.Duration, bool) {
	switch v := body[key].(type) {
	case float64:
		return time.Duration(v) * time.Second, true
	case string:
		d, err := parseDuration(v)
		return d, err == nil
	}
	return 0, false
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}

// intField reads a number given as JSON number or string.
func intField(body map[string]any, key string) (int, bool) {
	switch v := body[key].(type) {
	case float64:
		return int(v), true
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// listField reads a list given as a JSON array or a comma-separated string,
// as Vault's TypeCommaStringSlice does.
func listField(body map[string]any, key string) ([]string, bool) {
	var out []string
	switch v := body[key].(type) {
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	default:
		return nil, false
	}
	return out, true
}

func boolField(body map[string]any, key string) (bool, bool) {
	switch v := body[key].(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	return false, false
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
