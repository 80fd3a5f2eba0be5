package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// pprofConfig writes e's serve config with the metrics section replaced.
func (e *serveEnv) pprofConfig(t *testing.T, metrics string) string {
	t.Helper()
	b, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "metrics: {listen: "+e.metrics+"}", "metrics: "+metrics, 1)
	if cfg == string(b) {
		t.Fatal("serve config has no metrics line to replace")
	}
	p := filepath.Join(e.dir, "serve-pprof.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func metricsGet(t *testing.T, addr, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestPprofOnMetricsListener: /debug/pprof/ is not served unless
// metrics.pprof is on; on, a profile can be fetched and /metrics still
// answers.
func TestPprofOnMetricsListener(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics string
		on      bool
	}{
		{"off by default", "{listen: 127.0.0.1:0}", false},
		{"off explicitly", "{listen: 127.0.0.1:0, pprof: false}", false},
		{"on", "{listen: 127.0.0.1:0, pprof: true}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newServeEnv(t)
			cfg, err := loadServeConfig(e.pprofConfig(t, tc.metrics))
			if err != nil {
				t.Fatal(err)
			}
			cfg.PlainListen = "127.0.0.1:0"
			gw, err := startGateway(context.Background(), cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer gw.Close()
			if code, _ := metricsGet(t, gw.MetricsAddr, "/metrics"); code != http.StatusOK {
				t.Fatalf("/metrics: %d", code)
			}
			code, index := metricsGet(t, gw.MetricsAddr, "/debug/pprof/")
			heapCode, heap := metricsGet(t, gw.MetricsAddr, "/debug/pprof/heap")
			if !tc.on {
				if code != http.StatusNotFound || heapCode != http.StatusNotFound {
					t.Fatalf("pprof off: /debug/pprof/ %d, heap %d, want 404", code, heapCode)
				}
				return
			}
			if code != http.StatusOK || !bytes.Contains(index, []byte("goroutine")) {
				t.Fatalf("/debug/pprof/: %d %.200s", code, index)
			}
			// A profile in pprof's format: gzip-compressed protobuf.
			if heapCode != http.StatusOK || len(heap) < 2 || heap[0] != 0x1f || heap[1] != 0x8b {
				t.Fatalf("/debug/pprof/heap: %d, %d bytes, not a gzipped profile", heapCode, len(heap))
			}
		})
	}
}

// TestPprofConfigNeedsLoopback: metrics.pprof with a metrics listener that
// is not a loopback IP address (or none) is a config error naming the field.
func TestPprofConfigNeedsLoopback(t *testing.T) {
	e := newServeEnv(t)
	for _, tc := range []struct {
		metrics string
		ok      bool
	}{
		{"{listen: 127.0.0.1:9090, pprof: true}", true},
		{"{listen: \"[::1]:9090\", pprof: true}", true},
		{"{listen: 0.0.0.0:9090, pprof: true}", false},
		{"{listen: \"[::]:9090\", pprof: true}", false},
		{"{listen: 10.1.2.3:9090, pprof: true}", false},
		{"{listen: localhost:9090, pprof: true}", false},
		{"{listen: \":9090\", pprof: true}", false},
		{"{pprof: true}", false},
		{"{listen: 0.0.0.0:9090}", true}, // without pprof, any address
	} {
		t.Run(tc.metrics, func(t *testing.T) {
			_, err := loadServeConfig(e.pprofConfig(t, tc.metrics))
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "metrics.pprof") {
				t.Errorf("error does not name metrics.pprof: %v", err)
			}
		})
	}
}
