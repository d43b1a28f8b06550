package api

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HAMetrics counts what the HA loop did (it implements ha.Events, which
// api does not import): promotions by kind, fences, and the duration of
// each loop turn. The counters start at 0 when the agent starts, as
// Prometheus counters do; sum them over the members for the cluster.
type HAMetrics struct {
	failovers, switchovers, fences prometheus.Counter
	loop                           prometheus.Histogram
}

// loopBuckets: a turn is milliseconds when idle; a promotion, a clone or a
// crash recovery takes seconds to minutes.
var loopBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// NewHAMetrics registers the counters in reg (the Registry given to New)
// with the scope and name labels of every other metric.
func NewHAMetrics(reg *prometheus.Registry, scope, name string) (*HAMetrics, error) {
	labels := prometheus.Labels{"scope": scope, "name": name}
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: help, ConstLabels: labels})
	}
	m := &HAMetrics{
		failovers: counter("conclave_ha_failovers_total",
			"Promotions of this node after a lost leader or a failover request, since the agent started."),
		switchovers: counter("conclave_ha_switchovers_total",
			"Promotions of this node that carried out a switchover request, since the agent started."),
		fences: counter("conclave_ha_fences_total",
			"Times this node stopped its PostgreSQL at once because it could be writable without a trusted lease."),
		loop: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "conclave_ha_loop_duration_seconds",
			Help: "Duration of one HA loop turn (observe, decide, act, publish).", Buckets: loopBuckets, ConstLabels: labels}),
	}
	for _, c := range []prometheus.Collector{m.failovers, m.switchovers, m.fences, m.loop} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ha metrics: %w", err)
		}
	}
	return m, nil
}

// TurnDone observes one loop turn.
func (m *HAMetrics) TurnDone(d time.Duration) { m.loop.Observe(d.Seconds()) }

// Promoted counts a promotion: "switchover" or anything else as a failover.
func (m *HAMetrics) Promoted(kind string) {
	if kind == "switchover" {
		m.switchovers.Inc()
		return
	}
	m.failovers.Inc()
}

// Fenced counts a fence.
func (m *HAMetrics) Fenced() { m.fences.Inc() }
