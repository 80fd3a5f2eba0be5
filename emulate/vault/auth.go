package vault

import (
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// --- tokens ---
// https://developer.hashicorp.com/vault/docs/concepts/tokens
// https://developer.hashicorp.com/vault/api-docs/auth/token

type token struct {
	id, accessor string
	policies     []string
	meta         map[string]string
	created      time.Time
	lastRenewal  time.Time
	expires      time.Time // zero: never (root)
	maxExpires   time.Time // zero: no max (root, periodic)
	ttl          time.Duration
	period       time.Duration
	explicitMax  time.Duration
	numUses      int // remaining uses; 0: unlimited
	renewable    bool
	path         string
}

type tokenParams struct {
	path      string
	policies  []string
	noDefault bool
	ttl       time.Duration // 0: the system default (768h)
	maxTTL    time.Duration // 0: the system max (768h); ignored by periodic tokens
	explicit  time.Duration // explicit max TTL: binds periodic tokens too
	period    time.Duration // > 0: a periodic token
	numUses   int
	meta      map[string]string
}

// newTokenLocked issues a token the way Vault computes its TTL: a periodic
// token lives period from each renewal, with no max unless explicit; any
// other token gets ttl (system default when 0), never beyond the max TTL
// (system max when 0), and renewals cannot pass that max.
// https://developer.hashicorp.com/vault/docs/concepts/tokens#token-time-to-live-periodic-tokens-and-explicit-max-ttls
func (e *Emulator) newTokenLocked(p tokenParams) *token {
	now := e.clk.Now()
	pol := slices.Clone(p.policies)
	if !p.noDefault && !slices.Contains(pol, "root") {
		pol = append(pol, "default")
	}
	sort.Strings(pol)
	pol = slices.Compact(pol)
	t := &token{id: randID("hvs."), accessor: randID(""), policies: pol, meta: p.meta, created: now, path: p.path,
		numUses: p.numUses, renewable: true, period: p.period, explicitMax: p.explicit}
	if p.period > 0 {
		t.ttl = p.period
		if p.explicit > 0 {
			t.maxExpires = now.Add(p.explicit)
		}
	} else {
		t.ttl = p.ttl
		if t.ttl <= 0 {
			t.ttl = systemTTL
		}
		maxTTL := p.maxTTL
		if maxTTL <= 0 || maxTTL > systemTTL {
			maxTTL = systemTTL
		}
		if p.explicit > 0 {
			maxTTL = min(maxTTL, p.explicit)
		}
		t.ttl = min(t.ttl, maxTTL)
		t.maxExpires = now.Add(maxTTL)
	}
	t.expires = now.Add(t.ttl)
	if !t.maxExpires.IsZero() && t.expires.After(t.maxExpires) {
		t.expires = t.maxExpires
	}
	e.tokens[t.id] = t
	return t
}

func (t *token) live(now time.Time) bool { return t.expires.IsZero() || now.Before(t.expires) }

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

func (t *token) authBlock(now time.Time) map[string]any {
	return map[string]any{
		"client_token": t.id, "accessor": t.accessor, "policies": t.policies, "token_policies": t.policies,
		"metadata": t.meta, "lease_duration": t.remaining(now), "renewable": t.renewable, "entity_id": "",
		"token_type": "service", "orphan": true, "num_uses": t.numUses, "mfa_requirement": nil,
	}
}

// authToken returns the live token of the request, or nil. An expired
// token is gone, as Vault's expiration manager would revoke it.
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
	if !t.live(e.clk.Now()) {
		delete(e.tokens, id)
		return nil
	}
	return t
}

// useToken counts a use of a token with num_uses; the last use revokes it
// (the request itself still succeeds).
func (e *Emulator) useToken(t *token) {
	if t.numUses <= 0 {
		return
	}
	t.numUses--
	if t.numUses == 0 {
		delete(e.tokens, t.id)
	}
}

func (e *Emulator) revokeLocked(t *token) {
	if t.id != e.root {
		delete(e.tokens, t.id)
	}
}

// lookup follows GET auth/token/lookup-self.
func (e *Emulator) lookup(t *token) (int, map[string]any, *apiError) {
	now := e.clk.Now()
	var expire any
	if !t.expires.IsZero() {
		expire = t.expires.UTC().Format(time.RFC3339Nano)
	}
	data := map[string]any{
		"accessor": t.accessor, "creation_time": t.created.Unix(), "creation_ttl": int(t.ttl / time.Second),
		"display_name": "token", "entity_id": "", "expire_time": expire, "explicit_max_ttl": int(t.explicitMax / time.Second), "id": t.id,
		"issue_time": t.created.UTC().Format(time.RFC3339Nano), "meta": t.meta, "num_uses": t.numUses, "orphan": true,
		"path": t.path, "policies": t.policies, "renewable": t.renewable, "ttl": t.remaining(now), "type": "service",
	}
	if t.period > 0 {
		data["period"] = int(t.period / time.Second)
	}
	if !t.lastRenewal.IsZero() {
		data["last_renewal_time"] = t.lastRenewal.Unix()
		data["last_renewal"] = t.lastRenewal.UTC().Format(time.RFC3339Nano)
	}
	return 200, map[string]any{"data": data}, nil
}

// renew follows POST auth/token/renew-self: a periodic token gets its period
// again; any other token the increment (or its TTL), capped at its max TTL
// with a warning.
// https://developer.hashicorp.com/vault/api-docs/auth/token#renew-a-token-self
func (e *Emulator) renew(t *token, body map[string]any) (int, map[string]any, *apiError) {
	if !t.renewable || t.expires.IsZero() {
		return 0, nil, errf(400, "lease is not renewable")
	}
	now := e.clk.Now()
	inc, ok := durationField(body, "increment")
	if !ok || inc <= 0 {
		inc = t.ttl
	}
	if t.period > 0 {
		inc = t.period
	}
	exp := now.Add(inc)
	capped := false
	if !t.maxExpires.IsZero() && exp.After(t.maxExpires) {
		exp, capped = t.maxExpires, true
	}
	t.expires, t.lastRenewal = exp, now
	resp := map[string]any{"auth": t.authBlock(now)}
	if capped {
		resp["warnings"] = []string{"TTL of \"" + inc.String() + "\" exceeded the effective max_ttl of \"" + t.maxExpires.Sub(now).Truncate(time.Second).String() + "\"; TTL value is capped accordingly"}
	}
	return 200, resp, nil
}

// tokenAdmin serves auth/token/lookup, renew, revoke and revoke-accessor
// (with the token or accessor in the body).
func (e *Emulator) tokenAdmin(path string, body map[string]any) (int, map[string]any, *apiError) {
	if path == "auth/token/revoke-accessor" {
		acc, _ := body["accessor"].(string)
		for _, t := range e.tokens {
			if t.accessor == acc {
				e.revokeLocked(t)
				return 204, nil, nil
			}
		}
		return 0, nil, errf(400, "invalid accessor")
	}
	id, _ := body["token"].(string)
	t := e.tokens[id]
	if t != nil && !t.live(e.clk.Now()) {
		delete(e.tokens, id)
		t = nil
	}
	switch path {
	case "auth/token/revoke":
		if t != nil {
			e.revokeLocked(t)
		}
		return 204, nil, nil
	case "auth/token/lookup":
		if t == nil {
			return 0, nil, &apiError{status: 403, msgs: []string{"bad token"}}
		}
		return e.lookup(t)
	default: // renew
		if t == nil {
			return 0, nil, errf(400, "token not found")
		}
		return e.renew(t, body)
	}
}

// tokenCreate follows POST auth/token/create: policies (a subset of the
// caller's unless root), ttl, explicit_max_ttl, period, num_uses.
// https://developer.hashicorp.com/vault/api-docs/auth/token#create-token
func (e *Emulator) tokenCreate(parent *token, path string, body map[string]any) (int, map[string]any, *apiError) {
	p := tokenParams{path: path}
	p.ttl, _ = durationField(body, "ttl")
	p.explicit, _ = durationField(body, "explicit_max_ttl")
	p.period, _ = durationField(body, "period")
	p.numUses, _ = intField(body, "num_uses")
	p.noDefault, _ = boolField(body, "no_default_policy")
	p.policies, _ = listField(body, "policies")
	if len(p.policies) == 0 {
		p.policies = slices.Clone(parent.policies)
	}
	if !slices.Contains(parent.policies, "root") {
		for _, pol := range p.policies {
			if pol != "default" && !slices.Contains(parent.policies, pol) {
				return 0, nil, errf(400, "child policies must be subset of parent")
			}
		}
	}
	t := e.newTokenLocked(p)
	return 200, map[string]any{"auth": t.authBlock(e.clk.Now())}, nil
}

// --- AppRole ---
// https://developer.hashicorp.com/vault/api-docs/auth/approle

type appRole struct {
	roleID          string
	bindSecretID    bool
	secretIDNumUses int
	secretIDTTL     time.Duration
	secretIDCIDRs   []string
	tokenTTL        time.Duration
	tokenMaxTTL     time.Duration
	tokenPeriod     time.Duration
	tokenExplicit   time.Duration
	tokenPolicies   []string
	tokenNumUses    int
	tokenNoDefault  bool
	secretIDs       map[string]*secretID
}

type secretID struct {
	accessor string
	numUses  int // remaining; 0: unlimited
	ttl      time.Duration
	created  time.Time
	expires  time.Time // zero: never
	cidrs    []string
}

func (r *appRole) data(name string) map[string]any {
	return map[string]any{
		"bind_secret_id": r.bindSecretID, "secret_id_num_uses": r.secretIDNumUses, "secret_id_ttl": int(r.secretIDTTL / time.Second),
		"secret_id_bound_cidrs": r.secretIDCIDRs, "token_ttl": int(r.tokenTTL / time.Second), "token_max_ttl": int(r.tokenMaxTTL / time.Second),
		"token_period": int(r.tokenPeriod / time.Second), "token_policies": r.tokenPolicies, "policies": r.tokenPolicies,
		"token_num_uses": r.tokenNumUses, "token_no_default_policy": r.tokenNoDefault, "token_type": "default",
		"local_secret_ids": false, "token_bound_cidrs": []string{}, "token_explicit_max_ttl": int(r.tokenExplicit / time.Second),
	}
}

// approleAdmin serves auth/approle/role[/NAME[/...]]. A role write changes
// only the fields it names, as Vault's does.
func (e *Emulator) approleAdmin(req *request, mount, rest string) (int, map[string]any, *apiError) {
	name, sub, _ := strings.Cut(rest, "/")
	key := mount + "/" + name
	role := e.roles[key]
	body := req.body
	write := req.method == http.MethodPost || req.method == http.MethodPut
	switch {
	case name == "" && req.method == "LIST":
		var keys []string
		for k := range e.roles {
			if m, n, _ := strings.Cut(k, "/"); m == mount {
				keys = append(keys, n)
			}
		}
		if len(keys) == 0 {
			return 0, nil, errNotFound
		}
		sort.Strings(keys)
		return 200, map[string]any{"data": map[string]any{"keys": keys}}, nil
	case sub == "" && write:
		if role == nil {
			role = &appRole{roleID: randUUID(), bindSecretID: true, secretIDs: map[string]*secretID{}}
			e.roles[key] = role
		}
		if v, ok := boolField(body, "bind_secret_id"); ok {
			role.bindSecretID = v
		}
		if v, ok := intField(body, "secret_id_num_uses"); ok {
			role.secretIDNumUses = v
		}
		if v, ok := durationField(body, "secret_id_ttl"); ok {
			role.secretIDTTL = v
		}
		if v, ok := listField(body, "secret_id_bound_cidrs"); ok {
			role.secretIDCIDRs = v
		}
		if v, ok := durationField(body, "token_ttl"); ok {
			role.tokenTTL = v
		}
		if v, ok := durationField(body, "token_max_ttl"); ok {
			role.tokenMaxTTL = v
		}
		if v, ok := durationField(body, "token_explicit_max_ttl"); ok {
			role.tokenExplicit = v
		}
		for _, k := range []string{"period", "token_period"} {
			if v, ok := durationField(body, k); ok {
				role.tokenPeriod = v
			}
		}
		for _, k := range []string{"policies", "token_policies"} {
			if v, ok := listField(body, k); ok {
				role.tokenPolicies = v
			}
		}
		if v, ok := intField(body, "token_num_uses"); ok {
			role.tokenNumUses = v
		}
		if v, ok := boolField(body, "token_no_default_policy"); ok {
			role.tokenNoDefault = v
		}
		if role.tokenMaxTTL > 0 && role.tokenTTL > role.tokenMaxTTL {
			return 0, nil, errf(400, "token_ttl should not be greater than token_max_ttl")
		}
		return 204, nil, nil
	case sub == "" && req.method == http.MethodDelete:
		delete(e.roles, key)
		return 204, nil, nil
	case role == nil:
		if req.method == http.MethodGet {
			return 0, nil, errNotFound
		}
		return 0, nil, errf(400, "role %q does not exist", name)
	case sub == "" && req.method == http.MethodGet:
		return 200, map[string]any{"data": role.data(name)}, nil
	case sub == "role-id" && req.method == http.MethodGet:
		return 200, map[string]any{"data": map[string]any{"role_id": role.roleID}}, nil
	case sub == "role-id" && write:
		if v, _ := body["role_id"].(string); v != "" {
			role.roleID = v
		}
		return 204, nil, nil
	case sub == "secret-id" && write:
		return e.newSecretID(role, body)
	case sub == "secret-id" && req.method == "LIST":
		var accs []string
		for _, s := range role.secretIDs {
			accs = append(accs, s.accessor)
		}
		sort.Strings(accs)
		return 200, map[string]any{"data": map[string]any{"keys": accs}}, nil
	case sub == "secret-id/lookup" && write:
		sid, _ := body["secret_id"].(string)
		s := e.liveSecretID(role, sid)
		if s == nil {
			return 0, nil, errNotFound
		}
		return 200, map[string]any{"data": map[string]any{
			"secret_id_accessor": s.accessor, "secret_id_num_uses": s.numUses, "secret_id_ttl": int(s.ttl / time.Second),
			"creation_time": s.created.UTC().Format(time.RFC3339Nano), "expiration_time": fmtTime(s.expires), "cidr_list": s.cidrs,
			"metadata": map[string]string{}, "token_bound_cidrs": []string{}, "last_updated_time": s.created.UTC().Format(time.RFC3339Nano),
		}}, nil
	case sub == "secret-id/destroy" && (write || req.method == http.MethodDelete):
		sid, _ := body["secret_id"].(string)
		delete(role.secretIDs, sid)
		return 204, nil, nil
	}
	return 0, nil, errf(405, "unsupported operation")
}

// newSecretID follows POST role/:name/secret-id: num_uses and ttl default to
// the role's secret_id_num_uses and secret_id_ttl.
func (e *Emulator) newSecretID(role *appRole, body map[string]any) (int, map[string]any, *apiError) {
	now := e.clk.Now()
	s := &secretID{accessor: randUUID(), numUses: role.secretIDNumUses, ttl: role.secretIDTTL, created: now}
	if v, ok := intField(body, "num_uses"); ok {
		s.numUses = v
	}
	if v, ok := durationField(body, "ttl"); ok && v > 0 {
		s.ttl = v
	}
	if v, ok := listField(body, "cidr_list"); ok {
		s.cidrs = v
	}
	if s.ttl > 0 {
		s.expires = now.Add(s.ttl)
	}
	id := randUUID()
	role.secretIDs[id] = s
	return 200, map[string]any{"data": map[string]any{
		"secret_id": id, "secret_id_accessor": s.accessor, "secret_id_ttl": int(s.ttl / time.Second), "secret_id_num_uses": s.numUses,
	}}, nil
}

func (e *Emulator) liveSecretID(role *appRole, sid string) *secretID {
	s := role.secretIDs[sid]
	if s == nil {
		return nil
	}
	if !s.expires.IsZero() && !e.clk.Now().Before(s.expires) {
		delete(role.secretIDs, sid)
		return nil
	}
	return s
}

// approleLogin follows POST auth/approle/login. A secret id with uses left
// loses one; the last use deletes it, so the next login fails with the same
// 400 "invalid role or secret ID" as an unknown one (path_login.go).
func (e *Emulator) approleLogin(req *request, mount string) (int, map[string]any, *apiError) {
	roleID, _ := req.body["role_id"].(string)
	sid, _ := req.body["secret_id"].(string)
	if roleID == "" {
		return 0, nil, errf(400, "missing role_id")
	}
	var role *appRole
	var name string
	for k, r := range e.roles {
		if m, n, _ := strings.Cut(k, "/"); m == mount && r.roleID == roleID {
			role, name = r, n
		}
	}
	if role == nil {
		return 0, nil, errf(400, "invalid role or secret ID")
	}
	if role.bindSecretID {
		if sid == "" {
			return 0, nil, errf(400, "missing secret_id")
		}
		s := e.liveSecretID(role, sid)
		if s == nil {
			return 0, nil, errf(400, "invalid role or secret ID")
		}
		if len(s.cidrs) > 0 && !ipIn(req.remote, s.cidrs) {
			return 0, nil, errf(400, "source address %q unauthorized by CIDR restrictions on the secret ID: %%!w(<nil>)", req.remote)
		}
		switch {
		case s.numUses == 1:
			delete(role.secretIDs, sid)
		case s.numUses > 1:
			s.numUses--
		}
	}
	if len(role.secretIDCIDRs) > 0 && !ipIn(req.remote, role.secretIDCIDRs) {
		return 0, nil, errf(400, "source address %q unauthorized by CIDR restrictions on the role: %%!w(<nil>)", req.remote)
	}
	t := e.newTokenLocked(tokenParams{path: "auth/" + mount + "/login", policies: role.tokenPolicies, noDefault: role.tokenNoDefault,
		ttl: role.tokenTTL, maxTTL: role.tokenMaxTTL, explicit: role.tokenExplicit, period: role.tokenPeriod, numUses: role.tokenNumUses,
		meta: map[string]string{"role_name": name}})
	return 200, map[string]any{"auth": t.authBlock(e.clk.Now())}, nil
}

func ipIn(ip string, cidrs []string) bool {
	a := net.ParseIP(ip)
	for _, c := range cidrs {
		if !strings.Contains(c, "/") {
			if b := net.ParseIP(c); b != nil && b.Equal(a) {
				return true
			}
			continue
		}
		if _, n, err := net.ParseCIDR(c); err == nil && a != nil && n.Contains(a) {
			return true
		}
	}
	return false
}

func randUUID() string {
	h := randID("")
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// --- Kubernetes ---

type k8sRole struct {
	jwt         string
	ttl, maxTTL time.Duration
	policies    []string
}

// k8sLogin follows POST auth/kubernetes/login (the JWT is compared, not
// reviewed with a cluster).
// https://developer.hashicorp.com/vault/api-docs/auth/kubernetes#login
func (e *Emulator) k8sLogin(req *request) (int, map[string]any, *apiError) {
	role, _ := req.body["role"].(string)
	jwt, _ := req.body["jwt"].(string)
	kr, ok := e.k8s[role]
	if !ok {
		return 0, nil, errf(400, "invalid role name %q", role)
	}
	if jwt == "" || jwt != kr.jwt {
		return 0, nil, errBadToken
	}
	t := e.newTokenLocked(tokenParams{path: "auth/kubernetes/login", policies: kr.policies, ttl: kr.ttl, maxTTL: kr.maxTTL})
	return 200, map[string]any{"auth": t.authBlock(e.clk.Now())}, nil
}

// --- response wrapping ---
// https://developer.hashicorp.com/vault/docs/concepts/response-wrapping
// https://developer.hashicorp.com/vault/api-docs/system/wrapping-unwrap

type wrappedResp struct {
	body     map[string]any
	path     string
	created  time.Time
	expires  time.Time
	ttl      time.Duration
	accessor string
}

// wrapLocked stores resp behind a single-use wrapping token and returns the
// wrap_info response.
func (e *Emulator) wrapLocked(path string, resp map[string]any, ttl time.Duration) map[string]any {
	now := e.clk.Now()
	w := &wrappedResp{body: resp, path: path, created: now, expires: now.Add(ttl), ttl: ttl, accessor: randID("")}
	wt := randID("hvs.")
	e.wrapped[wt] = w
	info := map[string]any{"token": wt, "accessor": w.accessor, "ttl": int(ttl / time.Second),
		"creation_time": now.UTC().Format(time.RFC3339Nano), "creation_path": path}
	if d, ok := resp["data"].(map[string]any); ok {
		if acc, ok := d["secret_id_accessor"].(string); ok {
			info["wrapped_accessor"] = acc
		}
	}
	return map[string]any{"request_id": randUUID(), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": nil, "wrap_info": info, "warnings": nil, "auth": nil}
}

// unwrap returns the wrapped response once; a used, expired or unknown
// wrapping token gets 400 "wrapping token is not valid or does not exist".
func (e *Emulator) unwrap(wt string) (int, map[string]any, *apiError) {
	w := e.wrapped[wt]
	if w == nil || !e.clk.Now().Before(w.expires) {
		delete(e.wrapped, wt)
		return 0, nil, errf(400, "wrapping token is not valid or does not exist")
	}
	delete(e.wrapped, wt)
	return 200, w.body, nil
}

// wrapLookup follows POST sys/wrapping/lookup (does not use the token).
func (e *Emulator) wrapLookup(req *request) (int, map[string]any, *apiError) {
	wt, _ := req.body["token"].(string)
	w := e.wrapped[wt]
	if w == nil || !e.clk.Now().Before(w.expires) {
		return 0, nil, errf(400, "wrapping token is not valid or does not exist")
	}
	return 200, map[string]any{"data": map[string]any{"creation_ttl": int(w.ttl / time.Second),
		"creation_time": w.created.UTC().Format(time.RFC3339Nano), "creation_path": w.path}}, nil
}
