package engine

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Metrics are the engine's Prometheus series. A nil *Metrics records
// nothing, so tests and tools need not build one.
type Metrics struct {
	items     *prometheus.CounterVec
	passes    *prometheus.CounterVec
	errors    *prometheus.CounterVec
	throttles prometheus.Counter
	lastOK    *prometheus.GaugeVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncgate_sync_items_total",
			Help: "Item actions of the sync engine by kind, direction and action."}, []string{"kind", "direction", "action"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncgate_sync_passes_total",
			Help: "Passes by kind and result (ok, error, paused, throttled, org_limit)."}, []string{"kind", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncgate_sync_errors_total",
			Help: "Failed passes by kind."}, []string{"kind"}),
		throttles: prometheus.NewCounter(prometheus.CounterOpts{Name: "syncgate_sync_throttles_total",
			Help: "Requests retried after 429 or 503 with Retry-After."}),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "syncgate_sync_last_success_timestamp_seconds",
			Help: "End of the last successful pass per user and kind; lag = time() - this."}, []string{"user", "kind"}),
	}
	reg.MustRegister(m.items, m.passes, m.errors, m.throttles, m.lastOK)
	return m
}

// Throttled counts one throttled request (hook for gateway.Client).
func (m *Metrics) Throttled(int, time.Duration) {
	if m != nil {
		m.throttles.Inc()
	}
}

func (m *Metrics) action(kind model.Kind, dir, act string) {
	if m != nil {
		m.items.WithLabelValues(string(kind), dir, act).Inc()
	}
}

func (m *Metrics) observe(j Job, _ Result, err error, end time.Time) {
	if m == nil {
		return
	}
	var te *connector.ThrottledError
	switch {
	case err == nil:
		m.passes.WithLabelValues(string(j.Kind), "ok").Inc()
		m.lastOK.WithLabelValues(j.User, string(j.Kind)).Set(float64(end.Unix()))
		return
	case errors.Is(err, ErrPaused):
		m.passes.WithLabelValues(string(j.Kind), "paused").Inc()
	case errors.As(err, &te):
		m.passes.WithLabelValues(string(j.Kind), "throttled").Inc()
	case errors.Is(err, connector.ErrOrgLimit):
		m.passes.WithLabelValues(string(j.Kind), "org_limit").Inc()
	default:
		m.passes.WithLabelValues(string(j.Kind), "error").Inc()
	}
	m.errors.WithLabelValues(string(j.Kind)).Inc()
}

// ItemsCounter exposes one series of the item counter (tests, tools).
func (m *Metrics) ItemsCounter(kind model.Kind, dir, act string) prometheus.Counter {
	return m.items.WithLabelValues(string(kind), dir, act)
}

// ThrottleCounter exposes the throttle counter.
func (m *Metrics) ThrottleCounter() prometheus.Counter { return m.throttles }
