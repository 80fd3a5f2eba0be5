package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/syncgate/syncgate/certs"
)

const benchPolicy = `version: 1
ca_bundles:
  microsoft: {files: [upstream/root-ca.pem]}
clients:
  - name: sync
    identities: [{uri: "spiffe://demo.syncgate/sync"}]
    sources: ["127.0.0.1/32"]
  - name: sidecar
    sources: ["127.0.0.1/32"]
destinations:
  - name: graph
    hosts: [graph.microsoft.com]
    tls: {ca_bundle: microsoft}
    clients: [sync, sidecar]
    rules: [{id: bench, methods: [GET], paths: ["/bench/**"]}]
`

// benchResult is one load phase.
type benchResult struct {
	name     string
	n        int
	errs     int
	rps      float64
	p50, p99 time.Duration
	cpu      time.Duration // the proxy processes' CPU time per request (user+system, /proc)
}

// runBench compares keep-alive HTTPS GETs (1 KiB bodies) straight to an
// upstream with the same GETs through a separate `syncgate serve` process,
// in both modes, side by side in one run.
func runBench(ctx context.Context, out io.Writer, dir string, d time.Duration) error {
	if d <= 0 {
		d = 5 * time.Second
	}
	// The gateways are child processes: stop them, and wait for them, before returning.
	ctx, cancel := context.WithCancel(ctx)
	var children sync.WaitGroup
	defer children.Wait()
	defer cancel()
	payload := strings.Repeat("x", 1024)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, payload)
	})
	env, err := prepareDemo(ctx, dir, handler, benchPolicy, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "always")
	if err != nil {
		return err
	}
	defer env.close()
	upRoots, err := poolFrom(filepath.Join(env.upDir, certs.RootCAFile))
	if err != nil {
		return err
	}
	direct := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: upRoots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, env.upAddr)
		},
		MaxIdleConnsPerHost: 64,
	}}
	const workers = 8
	fmt.Fprintf(out, "keep-alive GETs, 1 KiB bodies, %d concurrent clients, %s per phase; the gateway runs as a separate process\n\n", workers, d)
	type phase struct {
		name   string
		client *http.Client
		url    string
		pids   func() []int // the proxy's processes, for CPU per request
	}
	phases := []phase{{"direct", direct, "https://graph.microsoft.com/bench/1", nil}}
	for _, fsync := range []string{"always", "batch"} {
		addr, err := startBenchGateway(ctx, env, fsync, &children)
		if err != nil {
			return err
		}
		viaConnect, err := env.demoClient("https://" + addr.tls)
		if err != nil {
			return err
		}
		pu, _ := url.Parse("http://" + addr.plain)
		viaPlain := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 64}}
		pid := addr.pid
		pids := func() []int { return []int{pid} }
		phases = append(phases,
			phase{"CONNECT (mTLS), audit fsync=" + fsync, viaConnect, "https://graph.microsoft.com/bench/1", pids},
			phase{"origination, audit fsync=" + fsync, viaPlain, "http://graph.microsoft.com/bench/1", pids})
	}
	// The same job for nginx from the distribution, when it is installed:
	// plain listener, proxy_pass https:// with proxy_ssl_verify on to the
	// same upstream under the same private CA, upstream keep-alive, one
	// access log line per request on disk.
	if ngx, err := startNginx(ctx, env, &children); err != nil {
		fmt.Fprintf(out, "nginx: not compared (%v)\n\n", err)
	} else if ngx != nil {
		plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		phases = append(phases, phase{"nginx proxy_pass https (verify on)", plain, "http://" + ngx.addr + "/bench/1", ngx.pids})
	}
	var results []benchResult
	for _, p := range phases {
		load(ctx, p.client, p.url, workers, time.Second, 0) // warm up
		var c0 time.Duration
		if p.pids != nil {
			c0 = procCPU(p.pids())
		}
		r := load(ctx, p.client, p.url, workers, d, 0)
		if p.pids != nil && r.n > 0 {
			r.cpu = (procCPU(p.pids()) - c0) / time.Duration(r.n)
		}
		r.name = p.name
		results = append(results, r)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tREQUESTS\tERRORS\tREQ/S\tP50\tP99\tVS DIRECT\tPROXY CPU/REQ")
	for _, r := range results {
		cpu := "-"
		if r.cpu > 0 {
			cpu = r.cpu.Round(100 * time.Nanosecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%.0f%%\t%s\n", r.name, r.n, r.errs, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), 100*r.rps/results[0].rps, cpu)
	}
	tw.Flush()

	fmt.Fprintf(out, "\nfixed rate 500 req/s, %s per phase: added p99 latency\n\n", d)
	var fixed []benchResult
	for _, p := range phases {
		r := load(ctx, p.client, p.url, workers, d, 500)
		r.name = p.name
		fixed = append(fixed, r)
	}
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tREQUESTS\tERRORS\tP50\tP99\tADDED P99")
	for _, r := range fixed {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", r.name, r.n, r.errs, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), (r.p99 - fixed[0].p99).Round(time.Microsecond))
	}
	tw.Flush()
	for _, r := range append(results, fixed...) {
		if r.errs > 0 {
			return fmt.Errorf("%s: %d requests failed (see the gateway logs in %s)", r.name, r.errs, env.dir)
		}
	}
	return nil
}

// load runs workers against url for d; rate > 0 paces requests to that
// many per second in total.
func load(ctx context.Context, c *http.Client, u string, workers int, d time.Duration, rate int) benchResult {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	deadline := time.Now().Add(d)
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		tick = t.C
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if tick != nil {
					select {
					case <-tick:
					case <-ctx.Done():
						return
					case <-time.After(time.Until(deadline)):
						return
					}
				}
				t0 := time.Now()
				err := get(ctx, c, u)
				el := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, el)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(lat)
	r := benchResult{n: len(lat), errs: errs, rps: float64(len(lat)) / total.Seconds()}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
	}
	return r
}

func get(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || n != 1024 {
		return fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
	}
	return nil
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func waitReady(ctx context.Context, u string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("gateway did not become ready")
}

type benchAddrs struct {
	tls, plain string
	pid        int
}

// startBenchGateway runs `syncgate serve` as a child process with the demo
// config and the given audit fsync mode; it stops when ctx ends.
func startBenchGateway(ctx context.Context, env *demoEnv, fsync string, children *sync.WaitGroup) (benchAddrs, error) {
	ports, err := freePorts(3)
	if err != nil {
		return benchAddrs{}, err
	}
	cfg := fmt.Sprintf(demoConfig, env.cfgPath, env.upAddr, ports[0], ports[1], ports[2], fsync)
	cfg = strings.Replace(cfg, "path: audit.jsonl", "path: audit-bench-"+fsync+".jsonl", 1)
	cfgPath := filepath.Join(env.dir, "bench-"+fsync+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return benchAddrs{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return benchAddrs{}, err
	}
	if alt := os.Getenv("SYNCGATE_BENCH_GATEWAY"); alt != "" {
		// Another build's gateway (an older commit, say), measured by
		// this one's harness in the same run conditions.
		exe = alt
	}
	logf, err := os.Create(filepath.Join(env.dir, "gateway-bench-"+fsync+".log"))
	if err != nil {
		return benchAddrs{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		logf.Close()
		return benchAddrs{}, fmt.Errorf("start gateway: %w", err)
	}
	children.Add(1)
	go func() {
		defer children.Done()
		cmd.Wait()
		logf.Close()
	}()
	if err := waitReady(ctx, "http://"+ports[2]+"/readyz"); err != nil {
		return benchAddrs{}, err
	}
	return benchAddrs{tls: ports[0], plain: ports[1], pid: cmd.Process.Pid}, nil
}

const nginxConf = `daemon off;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log %[1]s/nginx-access.log;
  client_body_temp_path %[1]s/ngx-body;
  proxy_temp_path %[1]s/ngx-proxy;
  fastcgi_temp_path %[1]s/ngx-fcgi;
  uwsgi_temp_path %[1]s/ngx-uwsgi;
  scgi_temp_path %[1]s/ngx-scgi;
  upstream graph { server %[2]s; keepalive 64; }
  server {
    listen %[3]s;
    location / {
      proxy_pass https://graph;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host graph.microsoft.com;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate %[4]s;
      proxy_ssl_name graph.microsoft.com;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
`

type nginxProc struct {
	addr string
	pid  int
}

// pids returns nginx's master and worker processes.
func (n *nginxProc) pids() []int {
	out := []int{n.pid}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(n.pid) {
			out = append(out, pid)
		}
	}
	return out
}

// startNginx runs nginx (when on PATH; nil, nil otherwise) in front of the
// bench upstream; it stops when ctx ends.
func startNginx(ctx context.Context, env *demoEnv, children *sync.WaitGroup) (*nginxProc, error) {
	exe, err := exec.LookPath("nginx")
	if err != nil {
		return nil, nil
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(env.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, env.upAddr, ports[0], filepath.Join(env.upDir, certs.RootCAFile))), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	children.Add(1)
	go func() {
		defer children.Done()
		cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", ports[0])
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("nginx did not start (see %s)", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &nginxProc{addr: ports[0], pid: cmd.Process.Pid}, nil
}

// procCPU sums user and system CPU time of the processes (from
// /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		// After the command: state(0) ppid(1) ... utime(11) stime(12).
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
