package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

// Options configures an Emulator.
type Options struct {
	// Clock drives token TTLs and timestamps; the wall clock when nil.
	Clock clock.Clock
	// RootToken never expires; default "root".
	RootToken string
	// KVMounts are KV v2 mounts; default ["secret"].
	KVMounts []string
	// TransitMount; default "transit".
	TransitMount string
}

// Emulator is an http.Handler serving the Vault API subset. Safe for
// concurrent use.
type Emulator struct {
	clk     clock.Clock
	root    string
	transit string

	mu       sync.Mutex
	down     bool
	latency  time.Duration
	kv       map[string]map[string]*kvSecret // mount -> path -> secret
	keys     map[string]*transitKey
	tokens   map[string]*token
	roles    map[string]*appRole // approle name -> role
	k8s      map[string]k8sRole
	wrapped  map[string]wrappedResp
	requests map[string]int
	seq      int
}

type kvVersion struct {
	data      map[string]any
	created   time.Time
	deleted   time.Time
	destroyed bool
}

type kvSecret struct {
	versions map[int]*kvVersion
	current  int
	created  time.Time
	updated  time.Time
}

type transitKey struct {
	typ      string
	versions []crypto.Signer
	created  []time.Time
	deletion bool
}

type token struct {
	id, accessor string
	policies     []string
	created      time.Time
	expires      time.Time // zero: never
	maxExpires   time.Time // zero: no max
	ttl          time.Duration
	renewable    bool
	path         string
}

type appRole struct {
	roleID    string
	secretIDs map[string]bool
	tokenTTL  time.Duration
	maxTTL    time.Duration
	policies  []string
}

type k8sRole struct {
	jwt           string
	ttl, maxTTL   time.Duration
	policies      []string
	serviceAcount string
}

type wrappedResp struct {
	body    map[string]any
	expires time.Time
}

// New returns an emulator with the root token and empty mounts.
func New(o Options) *Emulator {
	e := &Emulator{
		clk: o.Clock, root: o.RootToken, transit: o.TransitMount,
		kv: map[string]map[string]*kvSecret{}, keys: map[string]*transitKey{},
		tokens: map[string]*token{}, roles: map[string]*appRole{}, k8s: map[string]k8sRole{},
		wrapped: map[string]wrappedResp{}, requests: map[string]int{},
	}
	if e.clk == nil {
		e.clk = clock.Real{}
	}
	if e.root == "" {
		e.root = "root"
	}
	if e.transit == "" {
		e.transit = "transit"
	}
	mounts := o.KVMounts
	if len(mounts) == 0 {
		mounts = []string{"secret"}
	}
	for _, m := range mounts {
		e.kv[m] = map[string]*kvSecret{}
	}
	e.tokens[e.root] = &token{id: e.root, accessor: "root-accessor", policies: []string{"root"}, created: e.clk.Now(), path: "auth/token/root"}
	return e
}

// SetDown makes every request fail with 503 (true) or work again (false).
func (e *Emulator) SetDown(down bool) { e.mu.Lock(); e.down = down; e.mu.Unlock() }

// SetLatency delays every request by d.
func (e *Emulator) SetLatency(d time.Duration) { e.mu.Lock(); e.latency = d; e.mu.Unlock() }

// Requests returns how many requests were made as "METHOD /v1/path" (query
// string excluded) since the start.
func (e *Emulator) Requests(methodPath string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[methodPath]
}

// AddKubernetesRole makes auth/kubernetes/login accept jwt for role.
func (e *Emulator) AddKubernetesRole(role, jwt string, ttl, maxTTL time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.k8s[role] = k8sRole{jwt: jwt, ttl: ttl, maxTTL: maxTTL, policies: []string{"default"}}
}

// CreateToken makes a token with ttl and maxTTL (0: none), as
// auth/token/create would.
func (e *Emulator) CreateToken(ttl, maxTTL time.Duration) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.newTokenLocked("auth/token/create", []string{"default"}, ttl, maxTTL).id
}

// LiveTokens counts tokens that have not expired (the root token included).
func (e *Emulator) LiveTokens() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	now := e.clk.Now()
	for _, t := range e.tokens {
		if t.expires.IsZero() || now.Before(t.expires) {
			n++
		}
	}
	return n
}

func (e *Emulator) randID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (e *Emulator) newTokenLocked(path string, policies []string, ttl, maxTTL time.Duration) *token {
	now := e.clk.Now()
	t := &token{id: e.randID("hvs."), accessor: e.randID(""), policies: policies, created: now, ttl: ttl, renewable: ttl > 0, path: path}
	if ttl > 0 {
		t.expires = now.Add(ttl)
	}
	if maxTTL > 0 {
		t.maxExpires = now.Add(maxTTL)
		if t.expires.IsZero() || t.expires.After(t.maxExpires) {
			t.expires = t.maxExpires
		}
	}
	e.tokens[t.id] = t
	return t
}

func (t *token) authBlock(now time.Time) map[string]any {
	return map[string]any{
		"client_token": t.id, "accessor": t.accessor, "policies": t.policies, "token_policies": t.policies,
		"metadata": nil, "lease_duration": t.remaining(now), "renewable": t.renewable, "entity_id": "", "token_type": "service", "orphan": true,
	}
}

func (t *token) remaining(now time.Time) int {
	if t.expires.IsZero() {
		return 0
	}
	d := t.expires.Sub(now)
	if d < 0 {
		return 0
	}
	return int(d / time.Second)
}

// apiError is an error response in Vault's shape.
type apiError struct {
	status int
	msgs   []string
}

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msgs: []string{fmt.Sprintf(format, args...)}}
}

var (
	errDenied   = &apiError{status: 403, msgs: []string{"permission denied"}}
	errNotFound = &apiError{status: 404, msgs: []string{}}
)

// ServeHTTP implements http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	down, lat := e.down, e.latency
	method := r.Method
	if method == http.MethodGet && r.URL.Query().Get("list") == "true" {
		method = "LIST"
	}
	e.requests[method+" "+r.URL.Path]++
	e.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"errors": []string{"Vault is sealed"}})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeJSON(w, 404, map[string]any{"errors": []string{}})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	var body map[string]any
	if r.Body != nil {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(strings.TrimSpace(string(raw))) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				writeJSON(w, 400, map[string]any{"errors": []string{"failed to parse JSON input: " + err.Error()}})
				return
			}
		}
	}
	if body == nil {
		body = map[string]any{}
	}
	e.mu.Lock()
	status, resp, aerr := e.route(r, method, path, body)
	if aerr == nil && status == 200 && r.Header.Get("X-Vault-Wrap-TTL") != "" && path != "sys/wrapping/unwrap" {
		ttl, err := parseDuration(r.Header.Get("X-Vault-Wrap-TTL"))
		if err != nil || ttl <= 0 {
			aerr = errf(400, "invalid wrap TTL")
		} else {
			wt := e.randID("hvs.wrap.")
			now := e.clk.Now()
			e.wrapped[wt] = wrappedResp{body: resp, expires: now.Add(ttl)}
			resp = map[string]any{"request_id": e.randID(""), "wrap_info": map[string]any{
				"token": wt, "accessor": e.randID(""), "ttl": int(ttl / time.Second),
				"creation_time": now.UTC().Format(time.RFC3339Nano), "creation_path": path,
			}}
		}
	}
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

// authToken returns the live token of the request, or nil.
func (e *Emulator) authToken(r *http.Request) *token {
	id := r.Header.Get("X-Vault-Token")
	if id == "" {
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			id = strings.TrimPrefix(a, "Bearer ")
		}
	}
	t := e.tokens[id]
	if t == nil {
		return nil
	}
	if !t.expires.IsZero() && !e.clk.Now().Before(t.expires) {
		delete(e.tokens, id)
		return nil
	}
	return t
}

func (e *Emulator) route(r *http.Request, method, path string, body map[string]any) (int, map[string]any, *apiError) {
	switch {
	case path == "sys/health":
		return 200, map[string]any{"initialized": true, "sealed": false, "standby": false, "version": "1.20.0-emulated", "server_time_utc": e.clk.Now().Unix()}, nil
	case path == "auth/approle/login":
		return e.approleLogin(body)
	case path == "auth/kubernetes/login":
		return e.k8sLogin(body)
	case path == "sys/wrapping/unwrap":
		return e.unwrap(r, body)
	}
	tok := e.authToken(r)
	if tok == nil {
		return 0, nil, errDenied
	}
	switch {
	case path == "auth/token/lookup-self":
		return e.lookupSelf(tok)
	case path == "auth/token/renew-self":
		return e.renewSelf(tok, body)
	case path == "auth/token/create" || path == "auth/token/create-orphan":
		ttl, _ := durationField(body, "ttl")
		maxTTL, _ := durationField(body, "explicit_max_ttl")
		t := e.newTokenLocked(path, []string{"default"}, ttl, maxTTL)
		return 200, map[string]any{"auth": t.authBlock(e.clk.Now())}, nil
	case path == "auth/token/revoke-self":
		delete(e.tokens, tok.id)
		return 204, nil, nil
	case strings.HasPrefix(path, "sys/auth/") || strings.HasPrefix(path, "sys/mounts/"):
		return 204, nil, nil // mounting is a no-op: the emulator has them all
	case strings.HasPrefix(path, "auth/approle/role/"):
		return e.approleAdmin(method, strings.TrimPrefix(path, "auth/approle/role/"), body)
	case path == e.transit || strings.HasPrefix(path, e.transit+"/"):
		return e.transitRoute(method, strings.TrimPrefix(path, e.transit+"/"), body)
	}
	mount, rest, _ := strings.Cut(path, "/")
	if store, ok := e.kv[mount]; ok {
		return e.kvRoute(store, method, rest, body, r)
	}
	return 0, nil, errf(404, "no handler for route %q. route entry not found.", path)
}

// --- tokens and auth ---

func (e *Emulator) lookupSelf(t *token) (int, map[string]any, *apiError) {
	now := e.clk.Now()
	var expire any
	if !t.expires.IsZero() {
		expire = t.expires.UTC().Format(time.RFC3339Nano)
	}
	var maxTTL int
	if !t.maxExpires.IsZero() {
		maxTTL = int(t.maxExpires.Sub(t.created) / time.Second)
	}
	return 200, map[string]any{"data": map[string]any{
		"accessor": t.accessor, "creation_time": t.created.Unix(), "creation_ttl": int(t.ttl / time.Second),
		"display_name": "token", "expire_time": expire, "explicit_max_ttl": maxTTL, "id": t.id,
		"issue_time": t.created.UTC().Format(time.RFC3339Nano), "num_uses": 0, "orphan": true,
		"path": t.path, "policies": t.policies, "renewable": t.renewable, "ttl": t.remaining(now), "type": "service",
	}}, nil
}

func (e *Emulator) renewSelf(t *token, body map[string]any) (int, map[string]any, *apiError) {
	if !t.renewable {
		return 0, nil, errf(400, "lease is not renewable")
	}
	now := e.clk.Now()
	inc, ok := durationField(body, "increment")
	if !ok || inc <= 0 {
		inc = t.ttl
	}
	exp := now.Add(inc)
	if !t.maxExpires.IsZero() && exp.After(t.maxExpires) {
		exp = t.maxExpires
	}
	t.expires = exp
	resp := map[string]any{"auth": t.authBlock(now)}
	if !t.maxExpires.IsZero() && exp.Equal(t.maxExpires) {
		resp["warnings"] = []string{"TTL of \"" + inc.String() + "\" exceeded the effective max_ttl; TTL value is capped accordingly"}
	}
	return 200, resp, nil
}

func (e *Emulator) approleLogin(body map[string]any) (int, map[string]any, *apiError) {
	roleID, _ := body["role_id"].(string)
	secretID, _ := body["secret_id"].(string)
	for _, role := range e.roles {
		if role.roleID == roleID && roleID != "" {
			if !role.secretIDs[secretID] {
				return 0, nil, errf(400, "invalid role or secret ID")
			}
			t := e.newTokenLocked("auth/approle/login", role.policies, role.tokenTTL, role.maxTTL)
			return 200, map[string]any{"auth": t.authBlock(e.clk.Now())}, nil
		}
	}
	return 0, nil, errf(400, "invalid role or secret ID")
}

func (e *Emulator) approleAdmin(method, rest string, body map[string]any) (int, map[string]any, *apiError) {
	name, sub, _ := strings.Cut(rest, "/")
	role := e.roles[name]
	switch {
	case sub == "" && (method == http.MethodPost || method == http.MethodPut):
		if role == nil {
			role = &appRole{roleID: e.randID(""), secretIDs: map[string]bool{}}
			e.roles[name] = role
		}
		role.tokenTTL, _ = durationField(body, "token_ttl")
		role.maxTTL, _ = durationField(body, "token_max_ttl")
		role.policies = []string{"default"}
		return 204, nil, nil
	case sub == "" && method == http.MethodDelete:
		delete(e.roles, name)
		return 204, nil, nil
	case role == nil:
		return 0, nil, errf(400, "role %q does not exist", name)
	case sub == "role-id" && method == http.MethodGet:
		return 200, map[string]any{"data": map[string]any{"role_id": role.roleID}}, nil
	case sub == "secret-id" && (method == http.MethodPost || method == http.MethodPut):
		id := e.randID("")
		role.secretIDs[id] = true
		return 200, map[string]any{"data": map[string]any{"secret_id": id, "secret_id_accessor": e.randID(""), "secret_id_ttl": 0, "secret_id_num_uses": 0}}, nil
	}
	return 0, nil, errf(405, "unsupported operation")
}

func (e *Emulator) k8sLogin(body map[string]any) (int, map[string]any, *apiError) {
	role, _ := body["role"].(string)
	jwt, _ := body["jwt"].(string)
	kr, ok := e.k8s[role]
	if !ok {
		return 0, nil, errf(400, "invalid role name %q", role)
	}
	if jwt == "" || jwt != kr.jwt {
		return 0, nil, errDenied
	}
	t := e.newTokenLocked("auth/kubernetes/login", kr.policies, kr.ttl, kr.maxTTL)
	return 200, map[string]any{"auth": t.authBlock(e.clk.Now())}, nil
}

func (e *Emulator) unwrap(r *http.Request, body map[string]any) (int, map[string]any, *apiError) {
	wt, _ := body["token"].(string)
	if wt == "" {
		wt = r.Header.Get("X-Vault-Token")
	} else if e.authToken(r) == nil {
		return 0, nil, errDenied
	}
	w, ok := e.wrapped[wt]
	if !ok || !e.clk.Now().Before(w.expires) {
		delete(e.wrapped, wt)
		return 0, nil, errf(400, "wrapping token is not valid or does not exist")
	}
	delete(e.wrapped, wt) // single use
	return 200, w.body, nil
}

// --- KV v2 ---

func (e *Emulator) kvRoute(store map[string]*kvSecret, method, rest string, body map[string]any, r *http.Request) (int, map[string]any, *apiError) {
	op, p, _ := strings.Cut(rest, "/")
	now := e.clk.Now()
	switch op {
	case "data":
		s := store[p]
		switch method {
		case http.MethodGet:
			if s == nil {
				return 0, nil, errNotFound
			}
			v := s.current
			if q := r.URL.Query().Get("version"); q != "" && q != "0" {
				n, err := strconv.Atoi(q)
				if err != nil {
					return 0, nil, errf(400, "invalid version")
				}
				v = n
			}
			ver := s.versions[v]
			if ver == nil {
				return 0, nil, errNotFound
			}
			meta := versionMeta(v, ver)
			if ver.destroyed || !ver.deleted.IsZero() {
				// Vault answers 404 with the metadata and null data.
				return 404, map[string]any{"data": map[string]any{"data": nil, "metadata": meta}}, nil
			}
			return 200, map[string]any{"data": map[string]any{"data": ver.data, "metadata": meta}}, nil
		case http.MethodPost, http.MethodPut:
			data, ok := body["data"].(map[string]any)
			if !ok {
				return 0, nil, errf(400, "no data provided")
			}
			cur := 0
			if s != nil {
				cur = s.current
			}
			if opts, ok := body["options"].(map[string]any); ok {
				if c, ok := opts["cas"]; ok {
					n, ok := c.(float64)
					if !ok || int(n) != cur {
						return 0, nil, errf(400, "check-and-set parameter did not match the current version")
					}
				}
			}
			if s == nil {
				s = &kvSecret{versions: map[int]*kvVersion{}, created: now}
				store[p] = s
			}
			s.current++
			s.updated = now
			s.versions[s.current] = &kvVersion{data: data, created: now}
			delete(s.versions, s.current-10)
			return 200, map[string]any{"data": versionMeta(s.current, s.versions[s.current])}, nil
		case http.MethodDelete:
			if s != nil && s.versions[s.current] != nil {
				s.versions[s.current].deleted = now
			}
			return 204, nil, nil
		}
	case "delete", "undelete", "destroy":
		s := store[p]
		if method != http.MethodPost && method != http.MethodPut {
			break
		}
		vs, _ := body["versions"].([]any)
		if len(vs) == 0 {
			return 0, nil, errf(400, "no version number provided")
		}
		for _, x := range vs {
			n, _ := x.(float64)
			if s == nil || s.versions[int(n)] == nil {
				continue
			}
			switch op {
			case "delete":
				s.versions[int(n)].deleted = now
			case "undelete":
				s.versions[int(n)].deleted = time.Time{}
			case "destroy":
				s.versions[int(n)].destroyed = true
				s.versions[int(n)].data = nil
			}
		}
		return 204, nil, nil
	case "metadata":
		switch method {
		case "LIST":
			prefix := p
			if prefix != "" && !strings.HasSuffix(prefix, "/") {
				prefix += "/"
			}
			seen := map[string]bool{}
			for k := range store {
				if !strings.HasPrefix(k, prefix) {
					continue
				}
				rest := strings.TrimPrefix(k, prefix)
				if i := strings.Index(rest, "/"); i >= 0 {
					rest = rest[:i+1]
				}
				seen[rest] = true
			}
			if len(seen) == 0 {
				return 0, nil, errNotFound
			}
			keys := make([]string, 0, len(seen))
			for k := range seen {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return 200, map[string]any{"data": map[string]any{"keys": keys}}, nil
		case http.MethodGet:
			s := store[p]
			if s == nil {
				return 0, nil, errNotFound
			}
			versions := map[string]any{}
			oldest := s.current
			for n, v := range s.versions {
				versions[strconv.Itoa(n)] = map[string]any{"created_time": v.created.UTC().Format(time.RFC3339Nano), "deletion_time": fmtTime(v.deleted), "destroyed": v.destroyed}
				if n < oldest {
					oldest = n
				}
			}
			return 200, map[string]any{"data": map[string]any{
				"cas_required": false, "created_time": s.created.UTC().Format(time.RFC3339Nano), "current_version": s.current,
				"custom_metadata": nil, "delete_version_after": "0s", "max_versions": 0, "oldest_version": oldest,
				"updated_time": s.updated.UTC().Format(time.RFC3339Nano), "versions": versions,
			}}, nil
		case http.MethodDelete:
			delete(store, p)
			return 204, nil, nil
		}
	}
	return 0, nil, errf(405, "unsupported operation")
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func versionMeta(n int, v *kvVersion) map[string]any {
	return map[string]any{"created_time": v.created.UTC().Format(time.RFC3339Nano), "custom_metadata": nil,
		"deletion_time": fmtTime(v.deleted), "destroyed": v.destroyed, "version": n}
}

// --- Transit ---

func (e *Emulator) transitRoute(method, rest string, body map[string]any) (int, map[string]any, *apiError) {
	op, tail, _ := strings.Cut(rest, "/")
	name, sub, _ := strings.Cut(tail, "/")
	switch op {
	case "keys":
		k := e.keys[name]
		switch {
		case sub == "" && (method == http.MethodPost || method == http.MethodPut):
			if k != nil {
				return 204, nil, nil
			}
			typ, _ := body["type"].(string)
			if typ == "" {
				typ = "aes256-gcm96"
			}
			if typ != "rsa-2048" && typ != "ecdsa-p256" && typ != "ed25519" {
				return 0, nil, errf(400, "the emulator supports key types rsa-2048, ecdsa-p256 and ed25519, not %q", typ)
			}
			k = &transitKey{typ: typ}
			if err := k.rotate(e.clk.Now()); err != nil {
				return 0, nil, errf(500, "%v", err)
			}
			e.keys[name] = k
			return 200, e.keyInfo(name, k), nil
		case sub == "" && method == http.MethodGet:
			if k == nil {
				return 0, nil, errNotFound
			}
			return 200, e.keyInfo(name, k), nil
		case sub == "" && method == http.MethodDelete:
			if k == nil {
				return 204, nil, nil
			}
			if !k.deletion {
				return 0, nil, errf(400, "deletion is not allowed for this key")
			}
			delete(e.keys, name)
			return 204, nil, nil
		case k == nil:
			return 0, nil, errf(400, "key not found")
		case sub == "rotate" && method == http.MethodPost:
			if err := k.rotate(e.clk.Now()); err != nil {
				return 0, nil, errf(500, "%v", err)
			}
			return 200, e.keyInfo(name, k), nil
		case sub == "config" && method == http.MethodPost:
			if d, ok := body["deletion_allowed"].(bool); ok {
				k.deletion = d
			}
			return 200, e.keyInfo(name, k), nil
		}
	case "sign":
		return e.sign(name, sub, body)
	case "verify":
		return e.verify(name, sub, body)
	}
	return 0, nil, errf(405, "unsupported operation")
}

func (k *transitKey) rotate(now time.Time) error {
	var s crypto.Signer
	var err error
	switch k.typ {
	case "rsa-2048":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return err
	}
	k.versions = append(k.versions, s)
	k.created = append(k.created, now)
	return nil
}

func (e *Emulator) keyInfo(name string, k *transitKey) map[string]any {
	keys := map[string]any{}
	for i, s := range k.versions {
		der, _ := x509.MarshalPKIXPublicKey(s.Public())
		keys[strconv.Itoa(i+1)] = map[string]any{
			"creation_time": k.created[i].UTC().Format(time.RFC3339Nano), "name": map[string]string{"rsa-2048": "rsa-2048", "ecdsa-p256": "P-256", "ed25519": "ed25519"}[k.typ],
			"public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		}
	}
	return map[string]any{"data": map[string]any{
		"name": name, "type": k.typ, "latest_version": len(k.versions), "min_decryption_version": 1, "min_encryption_version": 0,
		"deletion_allowed": k.deletion, "exportable": false, "supports_signing": true, "supports_encryption": k.typ == "rsa-2048",
		"keys": keys,
	}}
}

type signParams struct {
	input     []byte
	hashAlg   string
	sigAlg    string
	marshal   string
	prehashed bool
	version   int
}

func parseSignParams(sub string, body map[string]any) (signParams, *apiError) {
	p := signParams{hashAlg: "sha2-256", sigAlg: "pss", marshal: "asn1"}
	in, _ := body["input"].(string)
	raw, err := base64.StdEncoding.DecodeString(in)
	if err != nil {
		return p, errf(400, "unable to decode input as base64: %v", err)
	}
	p.input = raw
	if sub != "" {
		p.hashAlg = sub
	}
	if h, ok := body["hash_algorithm"].(string); ok && h != "" {
		p.hashAlg = h
	}
	if s, ok := body["signature_algorithm"].(string); ok && s != "" {
		p.sigAlg = s
	}
	if m, ok := body["marshaling_algorithm"].(string); ok && m != "" {
		p.marshal = m
	}
	p.prehashed, _ = body["prehashed"].(bool)
	if v, ok := body["key_version"].(float64); ok {
		p.version = int(v)
	}
	return p, nil
}

func (p signParams) digest() ([]byte, crypto.Hash, *apiError) {
	var h hash.Hash
	var ch crypto.Hash
	switch p.hashAlg {
	case "sha2-256":
		h, ch = sha256.New(), crypto.SHA256
	case "sha2-384":
		h, ch = sha512.New384(), crypto.SHA384
	case "sha2-512":
		h, ch = sha512.New(), crypto.SHA512
	default:
		return nil, 0, errf(400, "unsupported hash algorithm %s", p.hashAlg)
	}
	if p.prehashed {
		return p.input, ch, nil
	}
	h.Write(p.input)
	return h.Sum(nil), ch, nil
}

type ecSig struct{ R, S *big.Int }

func (e *Emulator) sign(name, sub string, body map[string]any) (int, map[string]any, *apiError) {
	k := e.keys[name]
	if k == nil {
		return 0, nil, errf(400, "signing key not found")
	}
	p, aerr := parseSignParams(sub, body)
	if aerr != nil {
		return 0, nil, aerr
	}
	ver := p.version
	if ver == 0 {
		ver = len(k.versions)
	}
	if ver < 1 || ver > len(k.versions) {
		return 0, nil, errf(400, "invalid key version")
	}
	if ek, ok := k.versions[ver-1].(ed25519.PrivateKey); ok {
		// Ed25519 signs the input itself: no hash parameters apply.
		sig := ed25519.Sign(ek, p.input)
		return 200, map[string]any{"data": map[string]any{"signature": fmt.Sprintf("vault:v%d:%s", ver, base64.StdEncoding.EncodeToString(sig)), "key_version": ver}}, nil
	}
	d, ch, aerr := p.digest()
	if aerr != nil {
		return 0, nil, aerr
	}
	var sig []byte
	var err error
	switch key := k.versions[ver-1].(type) {
	case *rsa.PrivateKey:
		switch p.sigAlg {
		case "pkcs1v15":
			sig, err = rsa.SignPKCS1v15(rand.Reader, key, ch, d)
		case "pss":
			sig, err = rsa.SignPSS(rand.Reader, key, ch, d, nil)
		default:
			return 0, nil, errf(400, "unsupported rsa signature algorithm %s", p.sigAlg)
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key, d)
		if err == nil {
			if p.marshal == "jws" {
				sig = make([]byte, 64)
				r.FillBytes(sig[:32])
				s.FillBytes(sig[32:])
			} else {
				sig, err = asn1.Marshal(ecSig{r, s})
			}
		}
	}
	if err != nil {
		return 0, nil, errf(500, "sign: %v", err)
	}
	enc := base64.StdEncoding.EncodeToString(sig)
	if p.marshal == "jws" {
		enc = base64.RawURLEncoding.EncodeToString(sig)
	}
	return 200, map[string]any{"data": map[string]any{"signature": fmt.Sprintf("vault:v%d:%s", ver, enc), "key_version": ver}}, nil
}

func (e *Emulator) verify(name, sub string, body map[string]any) (int, map[string]any, *apiError) {
	k := e.keys[name]
	if k == nil {
		return 0, nil, errf(400, "signature verification key not found")
	}
	p, aerr := parseSignParams(sub, body)
	if aerr != nil {
		return 0, nil, aerr
	}
	sigStr, _ := body["signature"].(string)
	parts := strings.SplitN(sigStr, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return 0, nil, errf(400, "invalid signature")
	}
	ver, err := strconv.Atoi(strings.TrimPrefix(parts[1], "v"))
	if err != nil || ver < 1 || ver > len(k.versions) {
		return 0, nil, errf(400, "invalid key version")
	}
	var sig []byte
	if p.marshal == "jws" {
		sig, err = base64.RawURLEncoding.DecodeString(parts[2])
	} else {
		sig, err = base64.StdEncoding.DecodeString(parts[2])
	}
	if err != nil {
		return 0, nil, errf(400, "invalid base64 signature value")
	}
	if pub, ok := k.versions[ver-1].Public().(ed25519.PublicKey); ok {
		return 200, map[string]any{"data": map[string]any{"valid": ed25519.Verify(pub, p.input, sig)}}, nil
	}
	d, ch, aerr := p.digest()
	if aerr != nil {
		return 0, nil, aerr
	}
	valid := false
	switch pub := k.versions[ver-1].Public().(type) {
	case *rsa.PublicKey:
		if p.sigAlg == "pkcs1v15" {
			valid = rsa.VerifyPKCS1v15(pub, ch, d, sig) == nil
		} else {
			valid = rsa.VerifyPSS(pub, ch, d, sig, nil) == nil
		}
	case *ecdsa.PublicKey:
		if p.marshal == "jws" {
			if len(sig) == 64 {
				valid = ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
			}
		} else {
			valid = ecdsa.VerifyASN1(pub, d, sig)
		}
	}
	return 200, map[string]any{"data": map[string]any{"valid": valid}}, nil
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
	return time.ParseDuration(s)
}
