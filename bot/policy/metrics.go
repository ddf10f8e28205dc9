package policy

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refbot/refbot/internal/promreg"
)

// Metrics count the policy's answers. A nil *Metrics counts nothing.
type Metrics struct {
	decisions   *prometheus.CounterVec
	permissions prometheus.Counter
}

// NewMetrics registers the policy's metrics on reg, or returns those
// registered there before.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refbot_policy_decisions_total",
			Help: "Decisions on running a verb with limits, by verb, outcome (allow, postpone, refuse) and cause: the limit in the way " +
				"(cooldown, daily_cap, blackout, hold; the first to lift when there are several), none when allowed.",
		}, []string{"verb", "outcome", "cause"}),
		permissions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refbot_policy_permission_refusals_total",
			Help: "Commands refused because their author may not command refbot.",
		}),
	}
	var err error
	if m.decisions, err = promreg.Register(reg, m.decisions); err != nil {
		return nil, err
	}
	if m.permissions, err = promreg.Register(reg, m.permissions); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) decided(verb string, d Decision) {
	if m == nil {
		return
	}
	cause := "none"
	if len(d.Causes) > 0 {
		cause = strings.ReplaceAll(string(d.Causes[0]), " ", "_")
	}
	m.decisions.WithLabelValues(verb, d.Outcome.String(), cause).Inc()
}

func (m *Metrics) refusedPermission() {
	if m == nil {
		return
	}
	m.permissions.Inc()
}
