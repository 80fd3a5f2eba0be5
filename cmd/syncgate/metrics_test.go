package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestGatewayMetricsForOperators: refusals by class and reason, audit write
// latency and the broker's token events are on /metrics (issue 15's
// dashboard and alerts use them).
func TestGatewayMetricsForOperators(t *testing.T) {
	st, err := startDemoStack(context.Background(), filepath.Join(t.TempDir(), "demo"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := &demoEnv{dir: st.dir, gwDir: st.gwDir, clientCert: st.clientCert, clientKey: st.clientKey}
	client, err := env.demoClient("https://" + st.gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"https://graph.microsoft.com/v1.0/users/alice@corp.example/contacts", // allowed: a token is fetched
		"https://graph.microsoft.com/v1.0/users/alice@corp.example/messages", // denied by policy
		"https://graph.microsoft.com/v1.0/users/alice@corp.example/messages", // twice
	} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Syncgate-Subject", "alice@corp.example")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + st.gw.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, tc := range []struct {
		re  string
		min float64
	}{
		{`syncgate_refusals_total\{class="deny",destination="graph",reason="no rule allows method and path"\} (\S+)`, 2},
		{`syncgate_audit_write_seconds_count (\S+)`, 3},
		{`syncgate_token_events_total\{credential="graph-app",event="[a-z_]+",outcome="ok"\} (\S+)`, 1},
	} {
		m := regexp.MustCompile(tc.re).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no sample matches %s", tc.re)
			continue
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v < tc.min {
			t.Errorf("%s = %v, want at least %v", tc.re, v, tc.min)
		}
	}
}
