package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestListenEnv checks $REFBOT_LISTEN, which refbot's container image sets:
// it gives server.listen when the file leaves the key out, and only then.
func TestListenEnv(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", "t")
	withListen := minimal + "server:\n  listen: 127.0.0.1:9090\n"
	tests := []struct {
		name string
		env  string
		file string
		want string
	}{
		{name: "no variable", file: minimal, want: DefaultListen},
		{name: "variable, key left out", env: "0.0.0.0:8080", file: minimal, want: "0.0.0.0:8080"},
		{name: "key set, variable unset", file: withListen, want: "127.0.0.1:9090"},
		{name: "the file wins", env: "0.0.0.0:8080", file: withListen, want: "127.0.0.1:9090"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(ListenEnv, tc.env)
			cfg, err := Load(writeConfig(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cfg.Server.Listen); diff != "" {
				t.Errorf("server.listen (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListenEnvInvalid checks that a wrong $REFBOT_LISTEN is a problem that
// names the variable, since the file has no line to point at.
func TestListenEnvInvalid(t *testing.T) {
	t.Setenv("REFBOT_TEST_GITHUB_TOKEN", "t")
	t.Setenv(ListenEnv, "everywhere")
	problems := loadProblems(t, minimal)
	if len(problems) != 1 || !strings.Contains(problems[0], `server.listen: "everywhere" (from $REFBOT_LISTEN) is not host:port`) {
		t.Errorf("problems = %q, want one about server.listen from $%s", problems, ListenEnv)
	}
}
