package sandbox

import (
	"strings"
	"testing"
)

// TestServeRefusesEmptyWebhookSecret: `refbot serve` whose webhook secret
// resolves to nothing (its environment variable set but empty) does not
// start: it exits with an error naming the setting, instead of serving a
// webhook that anyone could sign.
func TestServeRefusesEmptyWebhookSecret(t *testing.T) {
	ctx, sb := start(t, false)
	rb, err := sb.Serve(ctx, refbotBin, "DEMO_WEBHOOK_SECRET=")
	if err == nil {
		rb.Kill()
		t.Fatal("refbot serve started with an empty webhook secret")
	}
	for _, want := range []string{"exited before it was ready: exit status", "github.webhook_secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
