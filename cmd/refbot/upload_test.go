package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refbot/refbot/internal/testenv"
	"github.com/refbot/refbot/s3cache"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// TestUpload runs `refbot upload` as a project's CI would, against MinIO,
// and reads the build back through s3cache.
func TestUpload(t *testing.T) {
	mc := testenv.MinIO(t)
	bucket := mc.BucketName(t)
	t.Setenv("AWS_ACCESS_KEY_ID", mc.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", mc.SecretKey)
	t.Setenv("REFBOT_S3_ENDPOINT", mc.Endpoint)
	t.Setenv("REFBOT_S3_PATH_STYLE", "true")
	t.Setenv(configEnv, "")
	ctx := context.Background()
	store, err := s3cache.New(ctx, s3cache.Options{Bucket: bucket, Prefix: "ci", Endpoint: mc.Endpoint, PathStyle: true,
		AccessKeyID: mc.AccessKey, SecretAccessKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "plots"), 0o755)
	os.WriteFile(filepath.Join(out, "plots", "a.png"), []byte("\x89PNG..."), 0o644)
	os.WriteFile(filepath.Join(out, "result.json"), []byte(`{"ok":true}`), 0o644)
	sha := strings.Repeat("c", 40)

	code, stdout, stderr := run(t, "upload", "--bucket", bucket, "--prefix", "ci", "--build", "4242", "--source", "17", "--commit", sha, out)
	if code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	if !strings.Contains(stdout, "uploaded build 4242 for PR #17: 2 files") {
		t.Errorf("stdout = %q", stdout)
	}
	b, err := store.Open(ctx, "4242", s3cache.Want{Source: s3cache.Source{PR: 17}, Commit: sha})
	if err != nil {
		t.Fatalf("the uploaded build does not open: %v", err)
	}
	if n := len(b.Manifests[""].Files); n != 2 {
		t.Errorf("manifest lists %d files, want 2", n)
	}

	code, stdout, _ = run(t, "upload", "--bucket", bucket, "--prefix", "ci", "--build", "4243", "--source", "master", "--variant", "linux", "--json", out)
	var res map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &res) != nil || res["variant"] != "linux" || res["files"] != 2.0 {
		t.Errorf("--json: exit %d, output %q", code, stdout)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no build", []string{"upload", "--bucket", bucket, "--source", "1", out}, exitUsage, `"build" not set`},
		{"no folder", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "1"}, exitUsage, "accepts 1 arg"},
		{"bad source", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "a b", out}, exitUsage, "--source"},
		{"no bucket", []string{"upload", "--build", "1", "--source", "1", out}, exitUsage, "no S3 bucket"},
		{"missing folder", []string{"upload", "--bucket", bucket, "--build", "1", "--source", "1", filepath.Join(out, "nope")}, exitFailure, "no such file"},
		{"unsafe build id", []string{"upload", "--bucket", bucket, "--build", "../x", "--source", "1", out}, exitFailure, "build id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}
