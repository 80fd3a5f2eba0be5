package proxy

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are owned by one Server and registered on the registry it is
// given, never on the global default registry.
type metrics struct {
	requests                *prometheus.CounterVec
	upstreamFailures        *prometheus.CounterVec
	latency                 *prometheus.HistogramVec
	auditFailures           prometheus.Counter
	clientHandshakeFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncgate_requests_total", Help: "Requests by destination and decision.",
		}, []string{"destination", "decision"}),
		upstreamFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncgate_upstream_tls_failures_total", Help: "Upstream connections refused, by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncgate_request_duration_seconds", Help: "Time from request head to response head.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"destination"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncgate_audit_write_failures_total", Help: "Audit records that could not be made durable.",
		}),
		clientHandshakeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncgate_client_tls_handshake_failures_total", Help: "Client TLS handshakes refused.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.upstreamFailures, m.latency, m.auditFailures, m.clientHandshakeFailures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(dest, decision string, d time.Duration) {
	if dest == "" {
		dest = "none"
	}
	m.requests.WithLabelValues(dest, decision).Inc()
	m.latency.WithLabelValues(dest).Observe(d.Seconds())
}
