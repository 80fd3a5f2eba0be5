package vault

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
)

// ACL policies as Vault enforces them: a token may do what the union of its
// policies grants; the most specific matching path rule decides; "deny"
// wins; "root" may do anything.
// https://developer.hashicorp.com/vault/docs/concepts/policies
// https://developer.hashicorp.com/vault/api-docs/system/policies

type policy struct {
	name  string
	text  string
	rules map[string][]string // path pattern -> capabilities
}

// Vault's built-in policies (vault/policy_store.go), less the identity and
// OIDC paths the emulator does not serve.
const defaultPolicyText = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}
`

const responseWrappingPolicyText = `
path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
`

func builtinPolicies() map[string]*policy {
	out := map[string]*policy{"root": {name: "root", rules: map[string][]string{}}}
	for name, text := range map[string]string{"default": defaultPolicyText, "response-wrapping": responseWrappingPolicyText} {
		p, err := parsePolicy(name, text)
		if err != nil {
			panic("emulate/vault: built-in policy " + name + ": " + err.Error())
		}
		out[name] = p
	}
	return out
}

// parsePolicy reads HCL (or JSON) policy text: path "PATTERN" { capabilities
// = [...] }, or the older policy = "read" | "write" | "deny" | "sudo".
func parsePolicy(name, text string) (*policy, error) {
	var doc struct {
		Paths []struct {
			Path         string   `hcl:",key"`
			Capabilities []string `hcl:"capabilities"`
			Policy       string   `hcl:"policy"`
		} `hcl:"path"`
	}
	if err := hcl.Decode(&doc, text); err != nil {
		return nil, err
	}
	p := &policy{name: name, text: text, rules: map[string][]string{}}
	for _, r := range doc.Paths {
		caps := r.Capabilities
		switch r.Policy {
		case "deny":
			caps = append(caps, "deny")
		case "read":
			caps = append(caps, "read", "list")
		case "write":
			caps = append(caps, "create", "read", "update", "delete", "list")
		case "sudo":
			caps = append(caps, "create", "read", "update", "delete", "list", "sudo")
		}
		pat := strings.TrimPrefix(r.Path, "/")
		p.rules[pat] = append(p.rules[pat], caps...)
	}
	return p, nil
}

// allowed says whether tok's policies grant capability on path.
func (e *Emulator) allowed(tok *token, path, capability string, list bool) bool {
	caps := e.capabilities(tok, path, list)
	return !slices.Contains(caps, "deny") && (slices.Contains(caps, "root") || slices.Contains(caps, capability))
}

// capabilities returns what tok may do on path: ["root"] for the root
// policy, ["deny"] when no rule matches.
func (e *Emulator) capabilities(tok *token, path string, list bool) []string {
	rules := map[string][]string{}
	for _, name := range tok.policies {
		if name == "root" {
			return []string{"root"}
		}
		if p := e.policies[name]; p != nil {
			for pat, caps := range p.rules {
				rules[pat] = append(rules[pat], caps...)
			}
		}
	}
	caps, ok := matchRules(rules, path)
	if !ok && list && strings.HasSuffix(path, "/") {
		caps, ok = matchRules(rules, strings.TrimSuffix(path, "/"))
	}
	if !ok {
		return []string{"deny"}
	}
	if slices.Contains(caps, "deny") {
		return []string{"deny"}
	}
	sort.Strings(caps)
	return slices.Compact(caps)
}

// matchRules finds the rule for path: an exact rule first, else the
// highest-priority pattern with + (one segment) or a trailing * (any rest).
func matchRules(rules map[string][]string, path string) ([]string, bool) {
	if caps, ok := rules[path]; ok && !strings.ContainsAny(path, "+*") {
		return caps, true
	}
	best := ""
	found := false
	for pat := range rules {
		if !strings.ContainsAny(pat, "+*") || !matchPattern(pat, path) {
			continue
		}
		if !found || lowerPriority(best, pat) {
			best, found = pat, true
		}
	}
	if !found {
		return nil, false
	}
	return rules[best], true
}

func matchPattern(pat, path string) bool {
	glob := strings.HasSuffix(pat, "*")
	pat = strings.TrimSuffix(pat, "*")
	if !strings.Contains(pat, "+") {
		if glob {
			return strings.HasPrefix(path, pat)
		}
		return pat == path
	}
	ps, xs := strings.Split(pat, "/"), strings.Split(path, "/")
	if len(xs) < len(ps) || (!glob && len(xs) != len(ps)) {
		return false
	}
	for i, seg := range ps {
		last := i == len(ps)-1
		switch {
		case seg == "+":
			if xs[i] == "" {
				return false
			}
		case last && glob:
			if !strings.HasPrefix(xs[i], seg) {
				return false
			}
		case seg != xs[i]:
			return false
		}
	}
	return true
}

// lowerPriority implements the documented tie-break between two matching
// patterns: the first wildcard earlier, a trailing *, more + segments, a
// shorter pattern, then the lexicographically smaller, loses.
// https://developer.hashicorp.com/vault/docs/concepts/policies#priority-matching
func lowerPriority(p1, p2 string) bool {
	w1, w2 := firstWildcard(p1), firstWildcard(p2)
	if w1 != w2 {
		return w1 < w2
	}
	g1, g2 := strings.HasSuffix(p1, "*"), strings.HasSuffix(p2, "*")
	if g1 != g2 {
		return g1
	}
	n1, n2 := strings.Count(p1, "+"), strings.Count(p2, "+")
	if n1 != n2 {
		return n1 > n2
	}
	if len(p1) != len(p2) {
		return len(p1) < len(p2)
	}
	return p1 < p2
}

func firstWildcard(p string) int {
	if i := strings.IndexAny(p, "+*"); i >= 0 {
		return i
	}
	return len(p)
}

// policyAdmin serves sys/policies/acl/:name and the older sys/policy/:name.
func (e *Emulator) policyAdmin(req *request, name string) (int, map[string]any, *apiError) {
	name = strings.ToLower(name)
	legacy := strings.HasPrefix(req.path, "sys/policy")
	switch req.method {
	case "LIST", http.MethodGet:
		if name == "" {
			keys := make([]string, 0, len(e.policies))
			for n := range e.policies {
				if n != "response-wrapping" {
					keys = append(keys, n)
				}
			}
			sort.Strings(keys)
			return 200, map[string]any{"keys": keys, "policies": keys, "data": map[string]any{"keys": keys, "policies": keys}}, nil
		}
		p := e.policies[name]
		if p == nil {
			return 0, nil, errNotFound
		}
		if legacy {
			return 200, map[string]any{"name": name, "rules": p.text, "data": map[string]any{"name": name, "rules": p.text}}, nil
		}
		return 200, map[string]any{"data": map[string]any{"name": name, "policy": p.text}}, nil
	case http.MethodPost, http.MethodPut:
		if name == "root" {
			return 0, nil, errf(400, "cannot update %q policy", name)
		}
		text, _ := req.body["policy"].(string)
		if legacy && text == "" {
			text, _ = req.body["rules"].(string)
		}
		if text == "" {
			return 0, nil, errf(400, "'policy' parameter not supplied or empty")
		}
		if dec, err := base64.StdEncoding.DecodeString(text); err == nil {
			text = string(dec) // Vault accepts the policy base64-encoded too
		}
		p, err := parsePolicy(name, text)
		if err != nil {
			return 0, nil, errf(400, "failed to parse policy: %v", err)
		}
		e.policies[name] = p
		return 204, nil, nil
	case http.MethodDelete:
		if name == "root" || name == "default" || name == "response-wrapping" {
			return 0, nil, errf(400, "cannot delete %q policy", name)
		}
		delete(e.policies, name)
		return 204, nil, nil
	}
	return 0, nil, errf(405, "unsupported operation")
}

// capabilitiesSelf follows POST sys/capabilities-self.
// https://developer.hashicorp.com/vault/api-docs/system/capabilities-self
func (e *Emulator) capabilitiesSelf(tok *token, body map[string]any) (int, map[string]any, *apiError) {
	paths, _ := listField(body, "paths")
	if p, ok := body["path"].(string); ok && p != "" {
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return 0, nil, errf(400, "missing paths")
	}
	out := map[string]any{}
	var all []string
	for _, p := range paths {
		caps := e.capabilities(tok, strings.TrimPrefix(p, "/"), false)
		out[p] = caps
		all = append(all, caps...)
	}
	if len(paths) == 1 {
		out["capabilities"] = all
	}
	resp := map[string]any{"data": out}
	for k, v := range out {
		resp[k] = v
	}
	return 200, resp, nil
}
