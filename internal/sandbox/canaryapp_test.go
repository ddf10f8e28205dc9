package sandbox

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAppKeyNeverLeaves is TestCanariesNeverLeave for the one secret that
// test cannot hold: the private key of refbot's GitHub App. refbot runs as
// the App of the Actions project (installation tokens for GitHub and for
// pushes to the data repo), does an UPDATE of a fork's PR, then meets
// GitHub refusing the App while commands and the CLI's checks run, and
// configurations whose key is broken (truncated, mangled, without its PEM
// lines, written inline, missing) through serve, config check, doctor and status.
// No piece of the key may be found in anything refbot wrote, said or
// sent: each line of its PEM body, and every 32 bytes of the key itself,
// in each form the canary search knows. A key's piece leaked on purpose
// is found.
func TestAppKeyNeverLeaves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	work := t.TempDir()
	sb, err := StartWith(ctx, work, Options{Actions: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	key := keyCanaries(t, sb.App.PrivateKey)

	rec := &recorder{}
	gh := newGate(t, "GitHub", sb.GitHub.URL, rec, rotateGitHub, nil)
	sb.GitHub.URL = gh.URL
	if err := sb.newListenAddr(); err != nil { // the configuration names the gate
		t.Fatal(err)
	}
	recordDataRepo(sb, rec)
	cli := func(args ...string) {
		t.Helper()
		out, code := sb.refbot(t, args...)
		rec.add(fmt.Sprintf("output of refbot %s (exit %d)", strings.Join(args, " "), code), []byte(out))
	}
	procs := startSampler(rec)
	defer procs.close()
	var logs []string
	rb, err := sb.Serve(ctx, refbotBin)
	if rb != nil {
		logs = append(logs, rb.Log)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { rb.Kill() }()
	procs.watch(rb.Cmd.Process.Pid)
	h := &httpClient{t: t, rec: rec, base: sb.URL()}

	// A fork's UPDATE as it should go: the artifact taken in, the data
	// pushed with the App's installation token, the run re-run.
	if _, err := sb.ForkCI(ctx, refbotBin, DemoOutputs, "failure"); err != nil {
		t.Fatal(err)
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	followed := make(chan error, 1)
	go func() { _, err := sb.FollowReruns(followCtx, refbotBin, DemoOutputs); followed <- err }()
	h.deliver(ctx, sb, "BUILDBOT: UPDATE")
	st, err := sb.WaitUpdateDone(ctx, rb)
	stopFollowing()
	if ferr := <-followed; ferr != nil {
		t.Fatal(ferr)
	}
	if err != nil || st.State != "success" {
		t.Fatalf("UPDATE: %+v, %v", st, err)
	}
	h.crawl("after the UPDATE")
	cli("status")
	cli("doctor")

	// GitHub refuses the App: what refbot sends carries credentials GitHub
	// no longer takes. A command's job fails; the CLI's checks fail.
	jobs := openJobs(ctx, t, sb)
	failed, mark := jobs.failures(), logSize(t, rb)
	gh.set(gateRotated, nil)
	h.deliver(ctx, sb, "BUILDBOT: STATUS")
	waitLogged(ctx, t, rb, "the STATUS job meets the refusal", func() bool {
		return gh.applied() > 0 && (jobs.failures() > failed || loggedProblem(rb, mark))
	})
	cli("doctor")
	cli("status")
	h.crawl("while GitHub refuses the App")
	gh.set(gatePass, nil)
	if err := rb.Stop(ctx); err != nil {
		t.Errorf("refbot serve did not stop cleanly: %v", err)
	}

	// Broken keys, each through serve and the CLI's checks.
	pemKey := string(sb.App.PrivateKey)
	good, err := os.ReadFile(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(pemKey), "\n")
	piece := regexp.MustCompile(`[A-Za-z][A-Za-z0-9]{23,}`).FindString(strings.Join(lines[1:len(lines)-1], "/"))
	if piece == "" {
		t.Fatal("the key has no 24 letters and digits in a row")
	}
	key["app-key piece named as a variable"] = piece
	for i, tc := range []struct {
		what string
		file string // the key file's content; "" leaves the file as it is
		from string // replaced by to in the configuration
		to   string
		env  []string
	}{
		{what: "a truncated key", file: pemKey[:len(pemKey)/2]},
		{what: "a key with a line mangled", file: strings.Replace(pemKey, lines[3], strings.ToLower(lines[3]), 1)},
		{what: "the key's body without its PEM lines", file: strings.Join(lines[1:len(lines)-1], "\n")},
		{what: "the key inline", from: "private_key: {file: app.pem}", to: "private_key: " + yamlQuote(pemKey)},
		{what: "the key as a variable's name", from: "private_key: {file: app.pem}", to: "private_key: {env: " + lines[2] + "}"},
		// A line of the key is a valid variable name only when it has no
		// + or /; a piece of it always is, and is then looked for too.
		{what: "a piece of the key as a variable's name", from: "private_key: {file: app.pem}", to: "private_key: {env: " + piece + "}"},
		{what: "a variable holding a broken key", from: "private_key: {file: app.pem}", to: "private_key: {env: CANARY_APP_KEY}",
			env: []string{"CANARY_APP_KEY=" + strings.Join(lines[:len(lines)/2], "\n")}},
		{what: "a key file that is missing", from: "private_key: {file: app.pem}", to: "private_key: {file: missing.pem}"},
	} {
		dir := filepath.Join(work, fmt.Sprintf("bad-%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		keyFile := pemKey
		if tc.file != "" {
			keyFile = tc.file
		}
		if err := os.WriteFile(filepath.Join(dir, "app.pem"), []byte(keyFile), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := strings.Replace(string(good), tc.from, tc.to, 1)
		if tc.from != "" && cfg == string(good) {
			t.Fatalf("%s: %q is not in the configuration", tc.what, tc.from)
		}
		// Relative paths in the configuration are its folder's.
		cfg = strings.ReplaceAll(cfg, filepath.Join(sb.Work, "state"), filepath.Join(dir, "state"))
		path := filepath.Join(dir, "refbot.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"serve"}, {"config", "check"}, {"doctor"}, {"status"}} {
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			cmd := exec.CommandContext(cctx, refbotBin, append(args, "--config", path)...)
			cmd.Env = append(append([]string{}, sb.Env...), tc.env...)
			out, err := cmd.CombinedOutput()
			late := cctx.Err() != nil
			ccancel()
			rec.add(fmt.Sprintf("output of refbot %s with %s", strings.Join(args, " "), tc.what), out)
			if late {
				t.Errorf("refbot %s with %s did not end within 30 s\n%s", strings.Join(args, " "), tc.what, out)
			} else if err == nil && args[0] != "config" {
				t.Errorf("refbot %s with %s succeeded\n%s", strings.Join(args, " "), tc.what, out)
			}
		}
	}

	caps := collect(t, sb, rec, logs)
	for _, f := range scan(caps, key.needles()) {
		t.Errorf("leak: %s", f)
	}
	t.Logf("searched %d captures for %d pieces of the key in %d forms", len(caps), len(key), len(key.needles()))

	// A piece of the key leaked on purpose, hex-encoded in a log line, is
	// found.
	f, err := os.OpenFile(logs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(sb.App.PrivateKey)
	fmt.Fprintf(f, "2026-01-01T00:00:00.000Z\terror\tghclient\tsign\t{\"key\": \"%x\"}\n", block.Bytes[100:180])
	f.Close()
	if found := scan(collect(t, sb, rec, logs), key.needles()); len(found) == 0 {
		t.Error("a piece of the key leaked on purpose into the log was not found")
	}
}

// keyCanaries are the pieces of a PEM private key the search looks for:
// each line of its base64 body, and each 32 bytes of the key itself (whose
// hex and base64 forms the search derives).
func keyCanaries(t *testing.T, key []byte) canaries {
	t.Helper()
	block, _ := pem.Decode(key)
	if block == nil {
		t.Fatal("the App's key is not PEM")
	}
	c := canaries{}
	for i, line := range strings.Split(strings.TrimSpace(string(key)), "\n") {
		if !strings.HasPrefix(line, "-----") {
			c[fmt.Sprintf("app-key line %02d", i)] = line
		}
	}
	for i := 0; i+32 <= len(block.Bytes); i += 32 {
		c[fmt.Sprintf("app-key bytes %04d (%s…)", i, hex.EncodeToString(block.Bytes[i:i+4]))] = string(block.Bytes[i : i+32])
	}
	return c
}

// yamlQuote writes s as a YAML double-quoted scalar.
func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
