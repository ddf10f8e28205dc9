package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSecretVariables: every {env: NAME} of the configuration is found,
// in every section that holds secrets, once each.
func TestSecretVariables(t *testing.T) {
	c := Default()
	c.GitHub.Token = Secret{Env: "GH"}
	c.GitHub.App = &App{PrivateKey: Secret{Env: "APP_KEY"}}
	c.GitHub.WebhookSecret = Secrets{{Env: "HOOK_NEW"}, {File: "/run/old"}, {Env: "HOOK_OLD"}}
	c.S3.AccessKeyID, c.S3.SecretAccessKey = Secret{Env: "S3_ID"}, Secret{Env: "S3_KEY"}
	c.DataRepo.Token = Secret{Env: "GH"} // the same variable twice
	c.CI.Token = Secret{File: "/run/travis"}
	c.Server.APIToken = Secret{Env: "API"}
	c.Pages.Tokens, c.Pages.SessionKey = Secret{Env: "PAGES_TOKENS"}, Secret{Env: "PAGES_KEY"}
	c.Pages.OAuth.ClientSecret = Secret{Env: "OAUTH"}
	c.Website = &Website{}
	want := []string{"API", "APP_KEY", "GH", "HOOK_NEW", "HOOK_OLD", "OAUTH", "PAGES_KEY", "PAGES_TOKENS", "S3_ID", "S3_KEY"}
	if diff := cmp.Diff(want, c.SecretVariables()); diff != "" {
		t.Errorf("SecretVariables (-want +got):\n%s", diff)
	}
}
