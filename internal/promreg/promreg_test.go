package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "refbot_test_total", Help: "a test"}
	first, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil || second != first {
		t.Errorf("registering again: %v, the same collector %v; want the first one back", err, second == first)
	}
	// Another type under the same name is an error, not a silent share.
	if _, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "refbot_test_total", Help: "a test"})); err == nil {
		t.Error("a gauge under a counter's name was accepted")
	}
}
