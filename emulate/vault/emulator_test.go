package vault

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/emulate/clock"
)

func call(t *testing.T, h http.Handler, method, path, token, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("X-Vault-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	raw, _ := io.ReadAll(w.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return w.Code, m
}

func TestErrorShapes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	cases := []struct {
		name, method, path, token, body string
		status                          int
		msg                             string
	}{
		{"no token", "GET", "/v1/secret/data/a", "", "", 403, "permission denied"},
		{"missing", "GET", "/v1/secret/data/a", "r", "", 404, ""},
		{"create", "POST", "/v1/secret/data/a", "r", `{"options":{"cas":0},"data":{"value":"x"}}`, 200, ""},
		{"cas mismatch", "POST", "/v1/secret/data/a", "r", `{"options":{"cas":0},"data":{"value":"y"}}`, 400, "check-and-set parameter did not match the current version"},
		{"bad json", "POST", "/v1/secret/data/a", "r", `{`, 400, "failed to parse JSON input"},
		{"unknown route", "GET", "/v1/nope/x", "r", "", 404, "no handler for route"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(t, e, c.method, c.path, c.token, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d (%v)", status, c.status, body)
			}
			errs, hasErrs := body["errors"].([]any)
			if status >= 400 && !hasErrs {
				t.Fatalf("error body without errors array: %v", body)
			}
			if c.msg != "" && (len(errs) == 0 || !strings.Contains(errs[0].(string), c.msg)) {
				t.Fatalf("errors = %v, want %q", errs, c.msg)
			}
		})
	}
	e.SetDown(true)
	if status, _ := call(t, e, "GET", "/v1/sys/health", "", ""); status != 503 {
		t.Fatalf("down: status %d", status)
	}
}

func TestWrappingIsSingleUseAndTokensExpire(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := New(Options{Clock: clk, RootToken: "r"})
	call(t, e, "POST", "/v1/auth/approle/role/app", "r", `{"token_ttl":"60s","token_max_ttl":"120s"}`)
	_, rid := call(t, e, "GET", "/v1/auth/approle/role/app/role-id", "r", "")
	_, w := call(t, e, "POST", "/v1/auth/approle/role/app/secret-id", "r", "", "X-Vault-Wrap-TTL", "60s")
	wt := w["wrap_info"].(map[string]any)["token"].(string)
	status, un := call(t, e, "POST", "/v1/sys/wrapping/unwrap", wt, "")
	if status != 200 {
		t.Fatalf("unwrap: %d", status)
	}
	if status, _ := call(t, e, "POST", "/v1/sys/wrapping/unwrap", wt, ""); status != 400 {
		t.Fatalf("second unwrap: %d, want 400", status)
	}
	sid := un["data"].(map[string]any)["secret_id"].(string)
	roleID := rid["data"].(map[string]any)["role_id"].(string)
	status, login := call(t, e, "POST", "/v1/auth/approle/login", "", `{"role_id":"`+roleID+`","secret_id":"`+sid+`"}`)
	if status != 200 {
		t.Fatalf("login: %d %v", status, login)
	}
	tok := login["auth"].(map[string]any)["client_token"].(string)
	clk.Advance(50 * time.Second)
	_, ren := call(t, e, "POST", "/v1/auth/token/renew-self", tok, `{"increment":"60s"}`)
	if d := ren["auth"].(map[string]any)["lease_duration"].(float64); d != 60 {
		t.Fatalf("renewed lease %v, want 60", d)
	}
	clk.Advance(50 * time.Second)
	_, ren = call(t, e, "POST", "/v1/auth/token/renew-self", tok, `{"increment":"60s"}`)
	if d := ren["auth"].(map[string]any)["lease_duration"].(float64); d != 20 {
		t.Fatalf("lease %v, want 20 (capped by max TTL)", d)
	}
	clk.Advance(21 * time.Second)
	if status, _ := call(t, e, "GET", "/v1/auth/token/lookup-self", tok, ""); status != 403 {
		t.Fatalf("expired token: %d, want 403", status)
	}
}
