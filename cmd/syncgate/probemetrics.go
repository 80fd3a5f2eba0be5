package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// probeGauge is a gauge that is 1 while the admin handler answers path
// (/readyz or /healthz) with 200, asked in-process at scrape time, so the
// metric and the probe can never disagree about what ready means.
func (g *gateway) probeGauge(name, path, help string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		if g.srv == nil {
			return 0
		}
		req, err := http.NewRequest(http.MethodGet, path, nil)
		if err != nil {
			return 0
		}
		w := &statusOnly{header: http.Header{}}
		g.adminHandler(nil).ServeHTTP(w, req)
		if w.status == 0 || w.status == http.StatusOK {
			return 1
		}
		return 0
	})
}

// statusOnly is a ResponseWriter that keeps the status and drops the body.
type statusOnly struct {
	header http.Header
	status int
}

func (w *statusOnly) Header() http.Header { return w.header }
func (w *statusOnly) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
func (w *statusOnly) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
