package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/certs"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// syncgateBinary builds the real binary once per test run: these tests
// exercise the process (flags, signals, exit codes), not just functions.
func syncgateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "syncgate-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "syncgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// serveEnv is a serve config on disk in front of a real TLS upstream.
type serveEnv struct {
	dir, cfg, policy, audit string
	plain, metrics          string
	up                      *httptest.Server
}

const servePolicy = `version: 1
ca_bundles:
  up: {files: [up/root-ca.pem]}
clients:
  - name: sidecar
    sources: ["127.0.0.1/32"]
destinations:
  - name: graph
    hosts: [graph.microsoft.com]
    tls: {ca_bundle: up}
    clients: [sidecar]
    rules: [{id: %s, methods: [GET], paths: [%s]}]
`

func newServeEnv(t *testing.T) *serveEnv {
	t.Helper()
	e := &serveEnv{dir: t.TempDir()}
	if _, err := certs.InitDir(filepath.Join(e.dir, "gw"), certs.InitOptions{Names: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	upDir := filepath.Join(e.dir, "up")
	if _, err := certs.InitDir(upDir, certs.InitOptions{Names: []string{"graph.microsoft.com"}}); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(upDir, certs.ListenerFile), filepath.Join(upDir, certs.ListenerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	e.up = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream saw "+r.URL.Path)
	}))
	e.up.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	e.up.StartTLS()
	t.Cleanup(e.up.Close)
	ports := mustFreePorts(t, 2)
	e.plain, e.metrics = ports[0], ports[1]
	e.policy = filepath.Join(e.dir, "policy.yaml")
	e.audit = filepath.Join(e.dir, "audit.jsonl")
	e.writePolicy(t, fmt.Sprintf(servePolicy, "v1", `"/ok"`))
	e.cfg = filepath.Join(e.dir, "serve.yaml")
	cfg := fmt.Sprintf(`plain_listen: %s
intercept_ca: {cert_file: gw/intercept-ca.pem, key_file: gw/intercept-ca.key}
policy: policy.yaml
audit: {path: audit.jsonl, fsync: always}
network:
  allow_ranges: ["127.0.0.0/8"]
  hosts: {graph.microsoft.com: "%s"}
metrics: {listen: %s}
`, e.plain, e.up.Listener.Addr(), e.metrics)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *serveEnv) writePolicy(t *testing.T, s string) {
	t.Helper()
	if err := os.WriteFile(e.policy, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustFreePorts(t *testing.T, n int) []string {
	t.Helper()
	p, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// get sends a GET through the gateway's plain listener.
func (e *serveEnv) get(t *testing.T, path string) int {
	t.Helper()
	c, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET http://graph.microsoft.com%s HTTP/1.1\r\nHost: graph.microsoft.com\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitRecord waits until the audit log has a config record with this result.
func (e *serveEnv) waitRecord(t *testing.T, event, result string, after int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, r := range readRecords(t, e.audit) {
			if r.Kind == audit.KindConfig && r.Detail["event"] == event && r.Detail["result"] == result {
				if n++; n > after {
					return r.Detail
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no config record %s/%s", event, result)
	return nil
}

func readRecords(t *testing.T, path string) []audit.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

func TestServeProcessReloadsOnSIGHUP(t *testing.T) {
	bin := syncgateBinary(t)
	e := newServeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", e.cfg)
	var logs strings.Builder
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := waitReady(ctx, "http://"+e.metrics+"/readyz"); err != nil {
		t.Fatal(err)
	}
	if s := e.get(t, "/ok"); s != 200 {
		t.Fatalf("/ok: %d", s)
	}
	if s := e.get(t, "/new"); s != 403 {
		t.Fatalf("/new before reload: %d", s)
	}

	// A broken policy is rejected and the old one keeps working.
	e.writePolicy(t, "version: 1\nclients: [\n")
	cmd.Process.Signal(syscall.SIGHUP)
	d := e.waitRecord(t, "reload", "rejected", 0)
	if !strings.Contains(d["detail"], "policy") {
		t.Errorf("rejection detail %q", d["detail"])
	}
	if s := e.get(t, "/ok"); s != 200 {
		t.Fatalf("/ok after rejected reload: %d", s)
	}
	// A policy with an unknown field is rejected too (strict decoding).
	e.writePolicy(t, fmt.Sprintf(servePolicy, "v2", `"/new"`)+"surprise: true\n")
	cmd.Process.Signal(syscall.SIGHUP)
	e.waitRecord(t, "reload", "rejected", 1)
	if s := e.get(t, "/new"); s != 403 {
		t.Fatalf("/new after rejected reload: %d", s)
	}

	// A good policy replaces it.
	e.writePolicy(t, fmt.Sprintf(servePolicy, "v2", `"/new"`))
	cmd.Process.Signal(syscall.SIGHUP)
	e.waitRecord(t, "reload", "ok", 0)
	if s := e.get(t, "/new"); s != 200 {
		t.Fatalf("/new after reload: %d", s)
	}
	if s := e.get(t, "/ok"); s != 403 {
		t.Fatalf("/ok after reload: %d", s)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "reload rejected") {
		t.Errorf("log does not say why the reload was rejected:\n%s", logs.String())
	}
	mu.Unlock()

	// Metrics and health on the separate listener.
	body := httpGet(t, "http://"+e.metrics+"/metrics")
	for _, want := range []string{`syncgate_requests_total{decision="allow",destination="graph"}`, `syncgate_requests_total{decision="deny",destination="graph"}`, "syncgate_request_duration_seconds_bucket"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if h := httpGet(t, "http://"+e.metrics+"/healthz"); !strings.Contains(h, `"ok"`) {
		t.Errorf("/healthz: %s", h)
	}
	if !strings.Contains(body, `syncgate_config_reload_errors_total{what="policy"} 2`) {
		t.Errorf("/metrics does not count the two rejected policy reloads")
	}

	// A broken intercept CA certificate keeps the old one, and says so.
	ica := filepath.Join(e.dir, "gw", certs.InterceptCAFile)
	good, _ := os.ReadFile(ica)
	os.WriteFile(ica, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	d = e.waitRecord(t, "reload", "rejected", 2)
	if !strings.Contains(d["detail"], "intercept") {
		t.Errorf("rejection detail %q", d["detail"])
	}
	if m := httpGet(t, "http://"+e.metrics+"/metrics"); !strings.Contains(m, `syncgate_config_reload_errors_total{what="intercept_ca"}`) {
		t.Errorf("/metrics does not show the certificate reload error")
	}
	os.WriteFile(ica, good, 0o644)
	if s := e.get(t, "/new"); s != 200 {
		t.Fatalf("/new after rejected certificate reload: %d", s)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited: %v\n%s", err, logs.String())
	}
	out, err := exec.Command(bin, "audit", "verify", e.audit).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	bin := syncgateBinary(t)
	dir := t.TempDir()
	cases := map[string]string{
		"unknown field":      "listen: 127.0.0.1:0\nbogus: 1\n",
		"plain not loopback": "plain_listen: 0.0.0.0:3128\npolicy: p.yaml\naudit: {path: a.jsonl}\nintercept_ca: {cert_file: a, key_file: b}\n",
		"bad range":          "plain_listen: 127.0.0.1:0\npolicy: p.yaml\naudit: {path: a.jsonl}\nintercept_ca: {cert_file: a, key_file: b}\nnetwork: {allow_ranges: [10.0.0.0/33]}\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			os.WriteFile(f, []byte(body), 0o644)
			out, err := exec.Command(bin, "serve", "--config", f).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, output %s", err, out)
			}
			if !strings.Contains(string(out), f) {
				t.Errorf("error does not name the file: %s", out)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestCertsShowConfig(t *testing.T) {
	e := newServeEnv(t)
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetArgs([]string{"certs", "show", "--config", e.cfg})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "intercept CA") || !strings.Contains(out.String(), "intercept-ca.pem") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestExampleServeConfigLoads keeps examples/syncgate.yaml in step with the
// config schema (strict decoding: a renamed field fails here).
func TestExampleServeConfigLoads(t *testing.T) {
	cfg, err := loadServeConfig(filepath.Join("..", "..", "examples", "syncgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Credentials) != 4 || cfg.Secrets.Backend != "vault" || cfg.Audit.Checkpoint.Transit == "" {
		t.Fatalf("unexpected example: %+v", cfg)
	}
}

// A policy naming a credential or client certificate the serve config does
// not have is refused at start, not discovered as 503s later.
func TestServeRefusesDanglingPolicyReferences(t *testing.T) {
	bin := syncgateBinary(t)
	for _, extra := range []string{"    credential: nowhere\n", "    client_cert: nowhere\n"} {
		e := newServeEnv(t)
		pol := strings.Replace(fmt.Sprintf(servePolicy, "v1", `"/ok"`), "    clients: [sidecar]\n", "    clients: [sidecar]\n"+extra, 1)
		e.writePolicy(t, pol)
		// Bounded: a gateway that wrongly starts would otherwise run forever.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, bin, "serve", "--config", e.cfg).CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), `"nowhere" is not in the serve config`) {
			t.Fatalf("%s: exit %v, output %s", strings.TrimSpace(extra), err, out)
		}
	}
}
