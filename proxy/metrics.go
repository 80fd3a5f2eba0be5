package proxy

import (
	"fmt"
	"strings"
	"sync"
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
	refusals                *prometheus.CounterVec
	auditWrite              prometheus.Histogram

	reasonsMu sync.Mutex
	reasons   map[string]bool // refusal reason labels in use (bounded)
}

// maxReasonLabels bounds the reason label: reasons are mostly fixed policy
// strings, but a few carry detail; past this many, new ones count as
// "other" so a stream of odd requests cannot grow the series without end.
const maxReasonLabels = 64

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
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncgate_refusals_total", Help: "Requests refused (denied, failed or malformed), by destination, class and reason.",
		}, []string{"destination", "class", "reason"}),
		auditWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "syncgate_audit_write_seconds", Help: "Time to make one request's audit record durable (fsync always: each answer waits for it).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		reasons: map[string]bool{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.upstreamFailures, m.latency, m.auditFailures, m.clientHandshakeFailures, m.refusals, m.auditWrite} {
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

// refused counts one refusal. The reason label is the reason's fixed part
// (before any ": " detail), bounded to maxReasonLabels distinct values.
func (m *metrics) refused(dest, class, reason string) {
	if dest == "" {
		dest = "none"
	}
	if i := strings.Index(reason, ": "); i > 0 {
		reason = reason[:i]
	}
	if len(reason) > 80 {
		reason = reason[:80]
	}
	m.reasonsMu.Lock()
	if !m.reasons[reason] {
		if len(m.reasons) >= maxReasonLabels {
			reason = "other"
		}
		m.reasons[reason] = true
	}
	m.reasonsMu.Unlock()
	m.refusals.WithLabelValues(dest, class, reason).Inc()
}
