package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var metricRe = regexp.MustCompile(`\bsyncgate_[a-z0-9_]+`)

// Metrics that exist only in some configurations, so a scrape of the test's
// gateway and engine cannot show them; each must still be registered by
// name in the code.
var notScraped = map[string]string{
	"syncgate_vault_authenticated":                 "only with secrets.backend: vault",
	"syncgate_vault_login_failures_total":          "only with secrets.backend: vault",
	"syncgate_sync_items_total":                    "only after an item moved (the test's engine reaches no provider)",
	"syncgate_sync_last_success_timestamp_seconds": "only after a successful pass",
	"syncgate_token_events_total":                  "only after the broker fetched a token (the test's gateway has no credential)",
}

// dashboardExprs returns every PromQL expression of the dashboard.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("grafana/syncgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			GridPos *struct {
				H, W, X, Y int
			} `json:"gridPos"`
			Datasource struct{ UID string } `json:"datasource"`
			Targets    []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard without uid or panels")
	}
	exprs := map[string]string{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.GridPos == nil || p.GridPos.W == 0 || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: duplicate id, no gridPos, fixed datasource or no targets", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			exprs[fmt.Sprintf("panel %d %s (%s)", p.ID, tg.RefID, p.Title)] = tg.Expr
		}
	}
	return exprs
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	return exprs
}

// TestRulesParse runs promtool on the alert rules, and on the dashboard's
// expressions as recording rules (Grafana's variables replaced), so both
// parse with Prometheus' own PromQL parser.
func TestRulesParse(t *testing.T) {
	promtool := needTool(t, "promtool", "apt-get install prometheus")
	if out, err := exec.Command(promtool, "check", "rules", "prometheus/alerts.yaml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	repl := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	names := sortedKeys(dashboardExprs(t))
	exprs := dashboardExprs(t)
	for i, n := range names {
		e, _ := json.Marshal(repl.Replace(exprs[n]))
		fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %s\n", i, e)
	}
	p := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	os.WriteFile(p, []byte(b.String()), 0o644)
	if out, err := exec.Command(promtool, "check", "rules", p).CombinedOutput(); err != nil {
		t.Fatalf("dashboard expressions: promtool check rules: %v\n%s", err, out)
	}
}

// TestMetricNamesExported checks that every metric the dashboard and the
// alert rules name is one a running gateway or sync engine exports on
// /metrics (or, for the few in notScraped, is registered by name in code).
func TestMetricNamesExported(t *testing.T) {
	used := map[string][]string{}
	for src, e := range dashboardExprs(t) {
		for _, m := range metricRe.FindAllString(e, -1) {
			used[m] = append(used[m], src)
		}
	}
	for src, e := range alertExprs(t) {
		for _, m := range metricRe.FindAllString(e, -1) {
			used[m] = append(used[m], src)
		}
	}
	exported := scrapeGatewayAndSync(t)
	registered := registeredNames(t)
	for _, m := range sortedKeys(used) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !registered[m] && !registered[base] {
			t.Errorf("%s (%v) is registered nowhere in the code", m, used[m])
		}
		if exported[m] {
			continue
		}
		if why, ok := notScraped[m]; ok {
			t.Logf("%s: not in the scrape (%s), registered in code", m, why)
			continue
		}
		t.Errorf("%s (%v) is not exported by the running gateway or sync engine", m, used[m])
	}
	// And the reverse: each syncgate metric the processes export is on the
	// dashboard, so an operator sees all of them.
	for _, m := range sortedKeys(exported) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if _, ok := used[m]; !ok && strings.HasPrefix(m, "syncgate_") && used[base+"_bucket"] == nil {
			t.Errorf("%s is exported but neither on the dashboard (deploy/grafana/syncgate.json) nor in the rules (deploy/prometheus/alerts.yaml): add it there", m)
		}
	}
}

// registeredNames finds metric names in string literals of the non-test Go
// source (Name: "…" in the Opts, or a helper's argument).
func registeredNames(t *testing.T) map[string]bool {
	names := map[string]bool{}
	re := regexp.MustCompile(`"(syncgate_[a-z0-9_]+)"`)
	filepath.Walk("..", func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range re.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	// probeGauge and the build info collector take their names as arguments.
	for _, n := range []string{"syncgate_ready", "syncgate_healthy", "syncgate_build_info"} {
		names[n] = true
	}
	return names
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrapeGatewayAndSync starts `syncgate serve` and `syncgate sync` on
// loopback, makes them count (an allowed request whose upstream fails TLS
// verification, a denied one, a rejected reload, sync passes the gateway
// refuses), and returns the sample names of both /metrics.
func scrapeGatewayAndSync(t *testing.T) map[string]bool {
	dir := t.TempDir()
	if out, err := exec.Command(syncgateBin, "certs", "init", filepath.Join(dir, "pki"), "--name", "gw.test").CombinedOutput(); err != nil {
		t.Fatalf("certs init: %v\n%s", err, out)
	}
	// An upstream whose certificate no CA bundle of the policy trusts.
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	copyFile(t, "../examples/cas/microsoft.pem", filepath.Join(dir, "cas", "microsoft.pem"))
	policy := `version: 1
ca_bundles: {microsoft: {files: [cas/microsoft.pem]}}
clients:
  - {name: sidecar, sources: ["127.0.0.1/32"], subjects: ["*@corp.example"]}
destinations:
  - name: upstream
    hosts: [upstream.test]
    tls: {ca_bundle: microsoft}
    clients: [sidecar]
    rules: [{methods: [GET], paths: ["/**"]}]
`
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644)
	plain, metrics, syncMetrics := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`plain_listen: %s
intercept_ca: {cert_file: pki/intercept-ca.pem, key_file: pki/intercept-ca.key}
policy: policy.yaml
audit: {path: audit.jsonl}
network:
  allow_ranges: ["127.0.0.0/8"]
  hosts: {upstream.test: %q}
metrics: {listen: %s}
`, plain, strings.TrimPrefix(up.URL, "https://"), metrics)
	os.WriteFile(filepath.Join(dir, "syncgate.yaml"), []byte(cfg), 0o644)
	sycfg := fmt.Sprintf(`gateway: {proxy: http://%s, ca_files: [pki/intercept-ca.pem]}
state: {sqlite: {path: sync-state.db}}
audit: {path: sync-audit.jsonl}
salesforce: {instance_url: https://corp.my.salesforce.com}
poll_interval: 1s
metrics: {listen: %s}
profiles:
  default:
    contacts: {direction: both}
    events: {enabled: false}
users:
  - {user: alice@corp.example, profile: default}
`, plain, syncMetrics)
	os.WriteFile(filepath.Join(dir, "sync.yaml"), []byte(sycfg), 0o644)
	configCheck(t, "sync", filepath.Join(dir, "sync.yaml"))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, syncgateBin, args...)
		cmd.Dir = dir
		log, _ := os.Create(filepath.Join(dir, args[0]+".log"))
		cmd.Stdout, cmd.Stderr = log, log
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); cmd.Wait() })
		return cmd
	}
	gw := start("serve", "--config", "syncgate.yaml")
	waitHTTP(t, "http://"+metrics+"/readyz", dir)

	pu, _ := url.Parse("http://" + plain)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 20 * time.Second}
	for _, u := range []string{"http://upstream.test/x", "http://denied.test/y"} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Syncgate-Subject", "alice@corp.example")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s through the gateway: %v", u, err)
		}
		resp.Body.Close()
		t.Logf("GET %s: %d", u, resp.StatusCode)
	}
	// A reload that fails: the running policy is kept, the error counted.
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("version: 1\nnot_a_field: 1\n"), 0o644)
	gw.Process.Signal(syscall.SIGHUP)

	start("sync", "--config", "sync.yaml")
	names := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		gwNames := scrape(t, "http://"+metrics+"/metrics")
		syNames := scrape(t, "http://"+syncMetrics+"/metrics")
		if gwNames["syncgate_config_reload_errors_total"] && gwNames["syncgate_upstream_tls_failures_total"] && syNames["syncgate_sync_passes_total"] {
			for n := range gwNames {
				names[n] = true
			}
			for n := range syNames {
				names[n] = true
			}
			return names
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			s, _ := os.ReadFile(filepath.Join(dir, "sync.log"))
			t.Fatalf("metrics never showed the reload error, the upstream failure and a sync pass:\ngateway %v\nsync %v\n%s\n%s", sortedKeys(gwNames), sortedKeys(syNames), b, s)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func waitHTTP(t *testing.T, u, dir string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	t.Fatalf("%s never answered 200\n%s", u, b)
}

// scrape returns the sample names of a Prometheus text exposition.
func scrape(t *testing.T, u string) map[string]bool {
	names := map[string]bool{}
	resp, err := http.Get(u)
	if err != nil {
		return names
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		n := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			n = line[:i]
		}
		names[n] = true
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	var r []string
	for k := range m {
		r = append(r, k)
	}
	sort.Strings(r)
	return r
}
