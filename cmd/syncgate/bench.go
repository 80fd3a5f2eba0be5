package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

const benchBodySize = 1024

// The systems the bench compares, in this order. Modes: "" is the floor
// (no proxy), "plain" a plain HTTP listener originating verified TLS to the
// upstream, "intercept" the client's own TLS ending at the proxy (CONNECT
// interception for syncgate, a TLS-terminating listener for the others).
var benchSystemIDs = []string{"direct", "syncgate", "syncgate-always", "nginx", "haproxy", "syncgate-intercept", "nginx-tls", "haproxy-tls"}

// benchRefs are the reference systems of each mode, for the ratios.
var benchRefs = map[string][2]string{
	"plain":     {"nginx", "haproxy"},
	"intercept": {"nginx-tls", "haproxy-tls"},
}

// benchTargets are issue 14's targets: syncgate against nginx, in both modes.
var benchTargets = [][2]string{{"syncgate", "nginx"}, {"syncgate-intercept", "nginx-tls"}}

const (
	targetCPURatio = 1.0                    // CPU per request ≤ 1.0× nginx's
	targetRPSRatio = 1.0                    // throughput ≥ 1.0× nginx's
	targetAddedP99 = 200 * time.Microsecond // added p99 at 500 req/s, fsync batch
)

// benchOptions configure a bench run.
type benchOptions struct {
	dir     string
	phase   time.Duration // each load phase, closed and paced alike
	rounds  int
	workers int      // concurrent clients (keep-alive connections) per phase
	rate    int      // the paced phase's requests per second
	systems []string // ids from benchSystemIDs; nil for all
	gateway string   // the syncgate binary run as `serve`
}

// benchOptionsFromEnv completes the demo command's flags with the
// SYNCGATE_BENCH_* environment (the Makefile sets them).
func benchOptionsFromEnv(dir string, d time.Duration) (benchOptions, error) {
	o := benchOptions{dir: dir, phase: d, rounds: 3, workers: 8, rate: 500}
	for _, v := range []struct {
		env string
		dst *int
		min int
	}{{"SYNCGATE_BENCH_ROUNDS", &o.rounds, 1}, {"SYNCGATE_BENCH_RATE", &o.rate, 1}, {"SYNCGATE_BENCH_CLIENTS", &o.workers, 1}} {
		s := os.Getenv(v.env)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < v.min {
			return o, fmt.Errorf("%s=%q: want an integer ≥ %d", v.env, s, v.min)
		}
		*v.dst = n
	}
	if s := os.Getenv("SYNCGATE_BENCH_SYSTEMS"); s != "" {
		for _, id := range strings.Split(s, ",") {
			id = strings.TrimSpace(id)
			if !containsString(benchSystemIDs, id) {
				return o, fmt.Errorf("SYNCGATE_BENCH_SYSTEMS: unknown system %q (known: %s)", id, strings.Join(benchSystemIDs, ", "))
			}
			o.systems = append(o.systems, id)
		}
	}
	o.gateway = os.Getenv("SYNCGATE_BENCH_GATEWAY")
	if o.gateway == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("bench: find the syncgate binary: %w", err)
		}
		o.gateway = exe
	}
	return o, nil
}

func containsString(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// runBench is `syncgate demo --bench`.
func runBench(ctx context.Context, out io.Writer, dir string, d time.Duration) error {
	o, err := benchOptionsFromEnv(dir, d)
	if err != nil {
		return err
	}
	_, err = runBenchWith(ctx, out, o)
	return err
}

// benchSystem is one system under load.
type benchSystem struct {
	id, label string
	mode      string
	do        func(context.Context) error
	pids      func() []int // the proxy's processes; nil for direct
}

// benchRound is one system's figures in one round.
type benchRound struct {
	closed, paced loadResult
	cpu10k        float64 // proxy CPU seconds per 10k requests (closed loop); NaN without a proxy
}

// benchSummary is one system's medians over the rounds.
type benchSummary struct {
	id, label, mode string
	rounds          int
	n, errs         int // over all rounds and phases
	firstErr        error
	rps             float64
	p50, p99        time.Duration
	cpu10k          float64
	pacedP99        time.Duration
	addedP99        time.Duration // paced p99 − direct's paced p99, median of the rounds' differences
	addedP50        time.Duration // the same for p50: less at the mercy of a busy machine's scheduler
	hasAdded        bool
	// ratios against the mode's references (nginx, haproxy), medians of
	// the per-round ratios; NaN when there is no reference.
	rpsVs, cpuVs [2]float64
}

// runBenchWith runs the systems in turn, round after round, and prints
// each round and then the medians.
func runBenchWith(ctx context.Context, out io.Writer, o benchOptions) ([]benchSummary, error) {
	if o.phase <= 0 {
		o.phase = 5 * time.Second
	}
	o.rounds = max(o.rounds, 1)
	o.workers = max(o.workers, 1)
	if o.rate <= 0 {
		o.rate = 500
	}
	want := func(id string) bool { return len(o.systems) == 0 || containsString(o.systems, id) }
	// The proxies are child processes: stop them, and wait for them, before returning.
	ctx, cancel := context.WithCancel(ctx)
	var children sync.WaitGroup
	defer children.Wait()
	defer cancel()
	payload := strings.Repeat("x", benchBodySize)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, payload)
	})
	env, err := prepareDemo(ctx, o.dir, handler, benchPolicy, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "always")
	if err != nil {
		return nil, err
	}
	defer env.close()
	systems, err := startBenchSystems(ctx, out, env, o, want, &children)
	if err != nil {
		return nil, err
	}
	warm := min(o.phase/4, time.Second)
	fmt.Fprintf(out, "keep-alive HTTP/1.1 GETs of %d bytes; per system and round: %s warm-up, %s closed loop with %d clients, %s paced at %d req/s (open loop, latency from the scheduled send time) with up to %d clients; %d round(s), the systems take turns in an order rotated each round.\n",
		benchBodySize, warm, o.phase, o.workers, o.phase, o.rate, o.workers, o.rounds)
	fmt.Fprintf(out, "Proxies run as separate processes; CPU is user+system of each proxy's whole process tree (/proc/PID/stat), never the load generator's. Logs and configs: %s\n\n", env.dir)
	res := make([][]benchRound, len(systems)) // [system][round]
	for r := 0; r < o.rounds; r++ {
		fmt.Fprintf(out, "round %d/%d\n", r+1, o.rounds)
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SYSTEM\tREQUESTS\tERRORS\tREQ/S\tP50\tP99\tCPU S/10K\tP99 @"+strconv.Itoa(o.rate)+"/S")
		for k := range systems {
			i := (k + r) % len(systems)
			s := systems[i]
			closedLoop(ctx, o.workers, warm, s.do)
			var c0 time.Duration
			if s.pids != nil {
				c0 = procCPU(s.pids())
			}
			br := benchRound{cpu10k: math.NaN()}
			br.closed = closedLoop(ctx, o.workers, o.phase, s.do)
			if s.pids != nil && br.closed.n > 0 {
				br.cpu10k = (procCPU(s.pids()) - c0).Seconds() / float64(br.closed.n) * 10000
			}
			br.paced, _ = pacedLoop(ctx, realClock{}, o.workers, o.rate, o.phase, s.do)
			res[i] = append(res[i], br)
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\n", s.label, br.closed.n, br.closed.errs+br.paced.errs, br.closed.rps,
				fmtDur(br.closed.p50), fmtDur(br.closed.p99), fmtCPU(br.cpu10k), fmtDur(br.paced.p99))
		}
		tw.Flush()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	sums := summarizeBench(systems, res)
	printBenchSummary(out, o, sums)
	var errs []error
	for _, s := range sums {
		if s.errs > 0 {
			errs = append(errs, fmt.Errorf("%s: %d requests failed, the first: %v (see the logs in %s)", s.label, s.errs, s.firstErr, env.dir))
		}
	}
	return sums, errors.Join(errs...)
}

// startBenchSystems starts the proxies the selected systems need and
// builds each system's client. A reference proxy that cannot run is
// reported and left out; a syncgate that cannot run is an error.
func startBenchSystems(ctx context.Context, out io.Writer, env *demoEnv, o benchOptions, want func(string) bool, children *sync.WaitGroup) ([]benchSystem, error) {
	const path = "/bench/1"
	upRoots, err := poolFrom(filepath.Join(env.upDir, certs.RootCAFile))
	if err != nil {
		return nil, err
	}
	// Every client keeps up to o.workers connections alive and speaks
	// HTTP/1.1 (a custom TLS config turns off net/http's HTTP/2).
	transport := func(tr *http.Transport) *http.Client {
		tr.MaxIdleConnsPerHost = 64
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	dialTo := func(addr string) func(context.Context, string, string) (net.Conn, error) {
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	}
	byID := map[string]benchSystem{}
	byID["direct"] = benchSystem{label: "direct (no proxy)", do: getter(transport(&http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: upRoots}, DialContext: dialTo(env.upAddr),
	}), "https://graph.microsoft.com"+path)}

	// syncgate: one process per audit fsync mode; the batch one also
	// serves the CONNECT interception.
	for _, g := range []struct{ fsync, plainID, interceptID string }{
		{"batch", "syncgate", "syncgate-intercept"},
		{"always", "syncgate-always", ""},
	} {
		if !want(g.plainID) && (g.interceptID == "" || !want(g.interceptID)) {
			continue
		}
		addr, err := startBenchGateway(ctx, env, o.gateway, g.fsync, children)
		if err != nil {
			return nil, err
		}
		pid := addr.pid
		pids := func() []int { return procTree(pid) }
		pu, err := url.Parse("http://" + addr.plain)
		if err != nil {
			return nil, err
		}
		byID[g.plainID] = benchSystem{label: "syncgate plain, fsync " + g.fsync, mode: "plain", pids: pids,
			do: getter(transport(&http.Transport{Proxy: http.ProxyURL(pu)}), "http://graph.microsoft.com"+path)}
		if g.interceptID != "" {
			// CONNECT on the plain listener, then the client's TLS to the
			// gateway, which answers with a leaf from its intercept CA.
			ica, err := poolFrom(filepath.Join(env.gwDir, certs.InterceptCAFile))
			if err != nil {
				return nil, err
			}
			byID[g.interceptID] = benchSystem{label: "syncgate CONNECT intercept, fsync " + g.fsync, mode: "intercept", pids: pids,
				do: getter(transport(&http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: ica}}), "https://graph.microsoft.com"+path)}
		}
	}

	// The reference proxies, with a server certificate for their
	// TLS-terminating listener from a CA of their own.
	if want("nginx") || want("nginx-tls") || want("haproxy") || want("haproxy-tls") {
		termDir := filepath.Join(env.dir, "terminating")
		if _, err := certs.InitDir(termDir, certs.InitOptions{Names: []string{"graph.microsoft.com"}}); err != nil {
			return nil, err
		}
		termRoots, err := poolFrom(filepath.Join(termDir, certs.RootCAFile))
		if err != nil {
			return nil, err
		}
		files := refProxyFiles{
			upstreamCA:   filepath.Join(env.upDir, certs.RootCAFile),
			upstreamAddr: env.upAddr,
			termCert:     filepath.Join(termDir, certs.ListenerFile),
			termKey:      filepath.Join(termDir, certs.ListenerKeyFile),
		}
		for _, rp := range []struct {
			name, plainLabel, tlsLabel string
			start                      func(context.Context, string, refProxyFiles, *sync.WaitGroup) (*refProxy, error)
		}{
			{"nginx", "nginx proxy_pass https (verify on)", "nginx TLS-terminating", startNginx},
			{"haproxy", "haproxy ssl verify required", "haproxy TLS-terminating", startHAProxy},
		} {
			if !want(rp.name) && !want(rp.name+"-tls") {
				continue
			}
			p, err := rp.start(ctx, filepath.Join(env.dir, rp.name), files, children)
			if err != nil {
				fmt.Fprintf(out, "%s: not compared: %v\n", rp.name, err)
				continue
			}
			byID[rp.name] = benchSystem{label: rp.plainLabel, mode: "plain", pids: p.pids,
				do: getter(transport(&http.Transport{}), "http://"+p.plain+path)}
			byID[rp.name+"-tls"] = benchSystem{label: rp.tlsLabel, mode: "intercept", pids: p.pids,
				do: getter(transport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: termRoots}, DialContext: dialTo(p.tls)}), "https://graph.microsoft.com"+path)}
		}
	}
	var systems []benchSystem
	for _, id := range benchSystemIDs {
		if s, ok := byID[id]; ok && want(id) {
			s.id = id
			systems = append(systems, s)
		}
	}
	if len(systems) == 0 {
		return nil, errors.New("bench: no system to measure")
	}
	return systems, nil
}

// summarizeBench takes the medians over the rounds. Ratios and added
// latency are computed within each round first (the systems saw the same
// machine conditions then) and their median is reported.
func summarizeBench(systems []benchSystem, res [][]benchRound) []benchSummary {
	idx := map[string]int{}
	for i, s := range systems {
		idx[s.id] = i
	}
	out := make([]benchSummary, len(systems))
	for i, s := range systems {
		sum := benchSummary{id: s.id, label: s.label, mode: s.mode, rounds: len(res[i])}
		var rps, cpu []float64
		var p50, p99, paced, added, added50 []time.Duration
		var rpsVs, cpuVs [2][]float64
		for r, br := range res[i] {
			sum.n += br.closed.n + br.paced.n
			sum.errs += br.closed.errs + br.paced.errs
			for _, e := range []error{br.closed.firstErr, br.paced.firstErr} {
				if sum.firstErr == nil && e != nil {
					sum.firstErr = e
				}
			}
			rps = append(rps, br.closed.rps)
			cpu = append(cpu, br.cpu10k)
			p50 = append(p50, br.closed.p50)
			p99 = append(p99, br.closed.p99)
			paced = append(paced, br.paced.p99)
			if d, ok := idx["direct"]; ok && s.id != "direct" {
				added = append(added, br.paced.p99-res[d][r].paced.p99)
				added50 = append(added50, br.paced.p50-res[d][r].paced.p50)
			}
			refs, ok := benchRefs[s.mode]
			for k := 0; ok && k < 2; k++ {
				j, ok := idx[refs[k]]
				if !ok || j == i {
					continue
				}
				ref := res[j][r]
				rpsVs[k] = append(rpsVs[k], br.closed.rps/ref.closed.rps)
				cpuVs[k] = append(cpuVs[k], br.cpu10k/ref.cpu10k)
			}
		}
		sum.rps, sum.cpu10k = median(rps), median(cpu)
		sum.p50, sum.p99, sum.pacedP99 = medianDuration(p50), medianDuration(p99), medianDuration(paced)
		if len(added) > 0 {
			sum.addedP99, sum.addedP50, sum.hasAdded = medianDuration(added), medianDuration(added50), true
		}
		for k := 0; k < 2; k++ {
			sum.rpsVs[k], sum.cpuVs[k] = median(finite(rpsVs[k])), median(finite(cpuVs[k]))
		}
		out[i] = sum
	}
	return out
}

// finite drops NaN and infinite ratios (a reference with no CPU ticks
// in a short phase).
func finite(xs []float64) []float64 {
	var out []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

func printBenchSummary(out io.Writer, o benchOptions, sums []benchSummary) {
	fmt.Fprintf(out, "\nmedians of %d round(s); ratios and added p99 are medians of the per-round figures (same-round conditions)\n", o.rounds)
	if o.rounds < 2 {
		fmt.Fprintln(out, "(one round only: these are single measurements, not medians; use at least 2 rounds for figures to report)")
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	rate := strconv.Itoa(o.rate)
	fmt.Fprintln(tw, "SYSTEM\tREQ/S\tP50\tP99\tCPU S/10K\tP99 @"+rate+"/S\tADDED P99 @"+rate+"/S\tADDED P50 @"+rate+"/S\tREQ/S ×NGINX\tCPU ×NGINX\tREQ/S ×HAPROXY\tCPU ×HAPROXY")
	for _, s := range sums {
		added, added50 := "-", "-"
		if s.hasAdded {
			added, added50 = fmtDur(s.addedP99), fmtDur(s.addedP50)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.label, s.rps, fmtDur(s.p50), fmtDur(s.p99), fmtCPU(s.cpu10k),
			fmtDur(s.pacedP99), added, added50, fmtRatio(s.rpsVs[0]), fmtRatio(s.cpuVs[0]), fmtRatio(s.rpsVs[1]), fmtRatio(s.cpuVs[1]))
	}
	tw.Flush()
	fmt.Fprintln(out, "\n(×NGINX/×HAPROXY: against nginx/haproxy in the same mode: the plain listeners against each other, syncgate's CONNECT interception against the TLS-terminating configurations)")
	byID := map[string]benchSummary{}
	for _, s := range sums {
		byID[s.id] = s
	}
	fmt.Fprintln(out, "\ntargets (issue 14):")
	for _, t := range benchTargets {
		s, ok1 := byID[t[0]]
		_, ok2 := byID[t[1]]
		if !ok1 || !ok2 {
			fmt.Fprintf(out, "  %s vs %s: not measured (both must be in the run)\n", t[0], t[1])
			continue
		}
		fmt.Fprintf(out, "  %s vs %s: CPU/request %s× (target ≤ %.1f×) %s; throughput %s× (target ≥ %.1f×) %s; added p99 @%d/s %s (target < %s) %s\n",
			s.label, byID[t[1]].label,
			fmtRatio(s.cpuVs[0]), targetCPURatio, verdict(!math.IsNaN(s.cpuVs[0]) && s.cpuVs[0] <= targetCPURatio),
			fmtRatio(s.rpsVs[0]), targetRPSRatio, verdict(!math.IsNaN(s.rpsVs[0]) && s.rpsVs[0] >= targetRPSRatio),
			o.rate, fmtDur(s.addedP99), fmtDur(targetAddedP99), verdict(s.hasAdded && s.addedP99 < targetAddedP99))
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func fmtDur(d time.Duration) string { return d.Round(time.Microsecond).String() }

func fmtCPU(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return strconv.FormatFloat(s, 'f', 3, 64)
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
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

// startBenchGateway runs `exe serve` as a child process with the demo
// config and the given audit fsync mode; it stops when ctx ends. exe may
// be another build's binary (an older commit, say), measured by this
// one's harness in the same run conditions.
func startBenchGateway(ctx context.Context, env *demoEnv, exe, fsync string, children *sync.WaitGroup) (benchAddrs, error) {
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
		return benchAddrs{}, fmt.Errorf("gateway (fsync %s, log %s): %w", fsync, logf.Name(), err)
	}
	return benchAddrs{tls: ports[0], plain: ports[1], pid: cmd.Process.Pid}, nil
}
