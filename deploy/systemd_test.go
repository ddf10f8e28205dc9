package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/server"
	"github.com/refbot/refbot/config"
)

// The systemd unit and the configuration it expects (docs/deploy.md).
const (
	unitFile       = "systemd/refbot.service"
	unitConfigFile = "systemd/refbot.yaml"
)

// systemdUnit is a unit file's settings: section, then key, then every
// value the key is given, in order (LoadCredential= and SystemCallFilter=
// are given several times).
type systemdUnit map[string]map[string][]string

// parseUnit reads a unit file as systemd.syntax(7) describes it: sections,
// KEY=VALUE lines, comments starting with # or ;, and a trailing backslash
// that continues a line.
func parseUnit(src []byte) (systemdUnit, error) {
	u := systemdUnit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(src))
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			lineNo++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: unterminated section header %q", lineNo, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", lineNo, line)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: %q is outside any section", lineNo, line)
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	return u, sc.Err()
}

// last is the value systemd uses for a key set once or more: the last one.
// ok is false when the key is not set.
func (u systemdUnit) last(section, key string) (string, bool) {
	values := u[section][key]
	if len(values) == 0 {
		return "", false
	}
	return values[len(values)-1], true
}

// readUnit reads and parses refbot's unit.
func readUnit(t *testing.T) ([]byte, systemdUnit) {
	t.Helper()
	src, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(src)
	if err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	return src, u
}

// unitBoolean reads one of systemd's booleans.
func unitBoolean(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// unitTimeSpan reads a systemd time span ("90", "90s", "1min 30s").
func unitTimeSpan(s string) (time.Duration, error) {
	s = strings.ReplaceAll(s, " ", "")
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	s = strings.NewReplacer("min", "m", "sec", "s").Replace(s)
	return time.ParseDuration(s)
}

// unitHardening is what the unit must say, in [Service]: "yes" stands for
// any of systemd's ways of saying true.
var unitHardening = map[string]string{
	"DynamicUser":             "yes",
	"StateDirectory":          "refbot",
	"ConfigurationDirectory":  "refbot",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"NoNewPrivileges":         "yes",
	"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	"CapabilityBoundingSet":   "",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"RestrictNamespaces":      "yes",
	"RestrictRealtime":        "yes",
	"RestrictSUIDSGID":        "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectKernelLogs":       "yes",
	"ProtectControlGroups":    "yes",
	"ProtectClock":            "yes",
	"ProtectHostname":         "yes",
	"UMask":                   "0077",
	"Restart":                 "on-failure",
	"KillSignal":              "SIGTERM",
}

// checkUnit returns every way the unit falls short of refbot's needs and
// of unitHardening; drain is how long serve may take to stop.
func checkUnit(u systemdUnit, drain time.Duration) []string {
	var problems []string
	for _, key := range slices.Sorted(maps.Keys(unitHardening)) {
		want := unitHardening[key]
		got, ok := u.last("Service", key)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s= is not set; want %s=%s", key, key, want))
			continue
		}
		if want == "yes" {
			if b, ok := unitBoolean(got); !ok || !b {
				problems = append(problems, fmt.Sprintf("%s=%s, want yes", key, got))
			}
		} else if got != want {
			problems = append(problems, fmt.Sprintf("%s=%s, want %s=%s", key, got, key, want))
		}
	}
	// The first SystemCallFilter= line allows a set; the others may only
	// deny (~), as an allowing line would add to the set.
	if filters := u["Service"]["SystemCallFilter"]; len(filters) == 0 || filters[0] != "@system-service" {
		problems = append(problems, fmt.Sprintf("SystemCallFilter= lines are %q; the first must be @system-service", filters))
	} else {
		for _, f := range filters[1:] {
			if !strings.HasPrefix(f, "~") {
				problems = append(problems, fmt.Sprintf("SystemCallFilter=%s widens the filter; after the first line, deny only (~)", f))
			}
		}
	}

	stop, ok := u.last("Service", "TimeoutStopSec")
	if d, err := unitTimeSpan(stop); !ok || err != nil || d <= drain {
		problems = append(problems, fmt.Sprintf("TimeoutStopSec=%s; want more than the %s refbot serve may take to drain", stop, drain))
	}

	execStart, _ := u.last("Service", "ExecStart")
	args := strings.Fields(execStart)
	confDir, _ := u.last("Service", "ConfigurationDirectory")
	wantArgs := []string{"serve", "--config", path.Join("/etc", confDir, "refbot.yaml")}
	if len(args) == 0 || !path.IsAbs(args[0]) || path.Base(args[0]) != "refbot" || !slices.Equal(args[1:], wantArgs) {
		problems = append(problems, fmt.Sprintf("ExecStart=%s; want /PATH/TO/refbot %s", execStart, strings.Join(wantArgs, " ")))
	}
	for _, c := range u["Service"]["LoadCredential"] {
		id, src, _ := strings.Cut(c, ":")
		if id == "" || strings.Contains(id, "/") || !path.IsAbs(src) {
			problems = append(problems, fmt.Sprintf("LoadCredential=%s; want ID:/ABSOLUTE/PATH", c))
		}
	}
	if wanted, _ := u.last("Install", "WantedBy"); wanted != "multi-user.target" {
		problems = append(problems, fmt.Sprintf("WantedBy=%s, want multi-user.target", wanted))
	}
	return problems
}

// TestSystemdUnit checks that the unit is hardened as refbot allows and
// gives serve time to drain, and that the check catches a unit that is not.
func TestSystemdUnit(t *testing.T) {
	_, u := readUnit(t)
	drain := serveDrain(t)
	for _, p := range checkUnit(u, drain) {
		t.Errorf("%s: %s", unitFile, p)
	}

	tests := []struct {
		name string
		edit func(systemdUnit)
		want string
	}{
		{"ProtectSystem missing", func(u systemdUnit) { delete(u["Service"], "ProtectSystem") }, "ProtectSystem= is not set"},
		{"DynamicUser off", func(u systemdUnit) { u["Service"]["DynamicUser"] = []string{"no"} }, "DynamicUser=no, want yes"},
		{"a capability kept", func(u systemdUnit) {
			u["Service"]["CapabilityBoundingSet"] = append(u["Service"]["CapabilityBoundingSet"], "CAP_NET_BIND_SERVICE")
		}, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"},
		{"short stop timeout", func(u systemdUnit) { u["Service"]["TimeoutStopSec"] = []string{"30s"} }, "TimeoutStopSec=30s"},
		{"syscall filter widened", func(u systemdUnit) {
			u["Service"]["SystemCallFilter"] = append(u["Service"]["SystemCallFilter"], "@mount")
		}, "SystemCallFilter=@mount widens"},
		{"another config", func(u systemdUnit) {
			u["Service"]["ExecStart"] = []string{"/usr/bin/refbot serve --config /srv/refbot.yaml"}
		}, "ExecStart=/usr/bin/refbot serve --config /srv/refbot.yaml"},
	}
	for _, tc := range tests {
		t.Run("catches "+tc.name, func(t *testing.T) {
			_, u := readUnit(t)
			tc.edit(u)
			problems := checkUnit(u, drain)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("edited unit: problems %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

// serveDrain is how long refbot serve may take to stop after SIGTERM, from
// the code's own constants, so that the unit and the StatefulSet follow
// them: the HTTP server's shutdown and the jobs' drain.
func serveDrain(*testing.T) time.Duration { return server.DefaultShutdownTimeout + queue.StopTimeout }

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, its
// ExecStart pointed at a refbot built for the test: systemd must have
// nothing to say about it. It also checks that verify does speak up.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd; .ci/run installs it)")
	}
	src, u := readUnit(t)
	execStart, _ := u.last("Service", "ExecStart")
	bin := strings.Fields(execStart)[0]

	dir := t.TempDir()
	refbot := filepath.Join(dir, "refbot")
	build := exec.Command("go", "build", "-o", refbot, "github.com/refbot/refbot/cmd/refbot")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	local := bytes.Replace(src, []byte("ExecStart="+bin+" "), []byte("ExecStart="+refbot+" "), 1)
	if bytes.Equal(local, src) {
		t.Fatalf("cannot point ExecStart=%s at the binary built", execStart)
	}

	// writeUnit writes a unit in a folder of its own, so that its name is
	// refbot.service, and returns its path.
	writeUnit := func(t *testing.T, unit []byte) string {
		file := filepath.Join(t.TempDir(), "refbot.service")
		if err := os.WriteFile(file, unit, 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	verify := func(t *testing.T, unit []byte) string {
		out, err := exec.Command(analyze, "verify", "--man=no", "--recursive-errors=no", writeUnit(t, unit)).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s(%v)", out, err)
		}
		return string(out)
	}
	if out := verify(t, local); out != "" {
		t.Errorf("systemd-analyze verify %s:\n%s", unitFile, out)
	}
	// Reported, not asserted: systemd's scoring changes between releases.
	if out, err := exec.Command(analyze, "security", "--offline=true", writeUnit(t, local)).CombinedOutput(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("systemd-analyze security: %s", lines[len(lines)-1])
	}

	t.Run("catches an unknown key", func(t *testing.T) {
		bad := bytes.Replace(local, []byte("[Service]\n"), []byte("[Service]\nProtectEverything=yes\n"), 1)
		if out := verify(t, bad); !strings.Contains(out, "ProtectEverything") {
			t.Errorf("systemd-analyze verify said %q of a unit with an unknown key", out)
		}
	})
	t.Run("catches a missing binary", func(t *testing.T) {
		missing := bytes.Replace(local, []byte(refbot), []byte(filepath.Join(dir, "absent", "refbot")), 1)
		if out := verify(t, missing); !strings.Contains(out, "absent") {
			t.Errorf("systemd-analyze verify said %q of a unit whose binary is missing", out)
		}
	})
}

// TestSystemdConfig checks deploy/systemd/refbot.yaml against the unit:
// refbot's own check accepts it; its state and configuration are in the
// unit's folders; each secret is one of the unit's credentials, and each
// credential is used; with the credentials' files present, every secret
// reads.
func TestSystemdConfig(t *testing.T) {
	_, u := readUnit(t)
	cfg, err := config.Load(unitConfigFile)
	if err != nil {
		t.Fatalf("refbot config check %s:\n%v", unitConfigFile, err)
	}
	stateDir, _ := u.last("Service", "StateDirectory")
	if want := path.Join("/var/lib", stateDir); cfg.StateDir != want {
		t.Errorf("state_dir is %s; the unit's StateDirectory=%s is %s", cfg.StateDir, stateDir, want)
	}
	for key, dir := range map[string]string{"database": cfg.Database, "data_repo.cache_dir": cfg.DataRepo.CacheDir} {
		if !strings.HasPrefix(dir, cfg.StateDir+"/") {
			t.Errorf("%s is %s, outside state_dir: ProtectSystem=strict leaves it read-only", key, dir)
		}
	}

	// A system service's $CREDENTIALS_DIRECTORY.
	credDir := path.Join("/run/credentials", path.Base(unitFile))
	ids := map[string]bool{}
	for _, c := range u["Service"]["LoadCredential"] {
		id, _, _ := strings.Cut(c, ":")
		ids[id] = false
	}
	for key, s := range configSecrets(cfg) {
		id, ok := strings.CutPrefix(s.File, credDir+"/")
		if _, known := ids[id]; !ok || !known {
			t.Errorf("%s is %s; want {file: %s/ID} with ID one of the unit's LoadCredential= (%s)", key, s, credDir, strings.Join(slices.Sorted(maps.Keys(ids)), ", "))
			continue
		}
		ids[id] = true
	}
	for id, used := range ids {
		if !used {
			t.Errorf("LoadCredential=%s: no secret of %s reads it (and systemd refuses to start the unit while its file is missing)", id, unitConfigFile)
		}
	}

	// The same configuration, its credentials' folder here.
	src, err := os.ReadFile(unitConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "refbot.yaml")
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, bytes.ReplaceAll(src, []byte(credDir+"/"), []byte(creds+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	for id := range ids {
		if err := os.WriteFile(filepath.Join(creds, id), []byte("test value of "+id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err = config.Load(local)
	if err != nil {
		t.Fatalf("with the credentials in %s: %v", creds, err)
	}
	if err := cfg.CheckSecrets(); err != nil {
		t.Errorf("refbot config check --secrets, the credentials present:\n%v", err)
	}
}

// configSecrets returns every secret a configuration sets, by the path of
// its field (GitHub.App.PrivateKey, GitHub.WebhookSecret[0], …), found by
// walking the Config so that none is left out.
func configSecrets(cfg *config.Config) map[string]config.Secret {
	out := map[string]config.Secret{}
	secretType := reflect.TypeFor[config.Secret]()
	var walk func(v reflect.Value, name string)
	walk = func(v reflect.Value, name string) {
		if v.Type() == secretType {
			if s := v.Interface().(config.Secret); s.IsSet() {
				out[name] = s
			}
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), name)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if f := v.Type().Field(i); f.IsExported() {
					walk(v.Field(i), strings.TrimPrefix(name+"."+f.Name, "."))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", name, i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k), fmt.Sprintf("%s[%v]", name, k))
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), "")
	return out
}
