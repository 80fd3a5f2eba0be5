package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves /metrics, /healthz and /readyz for the separate admin
// listener. healthz fails while the audit log cannot be written (the gateway
// is refusing requests then, and says why); readyz fails until a policy is
// loaded.
func (s *Server) AdminHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		status, body := http.StatusOK, map[string]string{"status": "ok"}
		if err := s.opt.Audit.Healthy(); err != nil {
			status, body = http.StatusServiceUnavailable, map[string]string{"status": "failing", "reason": "audit log: " + err.Error()}
		}
		writeJSON(w, status, body)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Policy() == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": "no policy loaded"})
			return
		}
		if err := s.opt.Audit.Healthy(); err != nil && s.opt.FailClosed {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": "audit log: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WithPprof serves net/http/pprof's handlers under /debug/pprof/ in front of
// h, on a mux of its own: http.DefaultServeMux, where importing
// net/http/pprof also registers them, is never served by the gateway. The
// caller decides whether the listener may expose profiles (loopback only).
func WithPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
