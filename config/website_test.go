package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withWebsite returns minimal (Travis) with a website section of lines;
// its first line is line 10 ("website:" is line 9).
func withWebsite(lines string) string { return minimal + "website:\n" + lines }

func TestWebsiteDefaults(t *testing.T) {
	cfg, err := parse("config.yaml", t.TempDir(), []byte(inS3("  prefix: builds\n")+
		"website:\n  preview: {bucket: previews, prefix: pr, url: \"https://preview.example.org/\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Website
	if got := [2]string{w.UploadBucket(cfg.S3), w.UploadPrefix(cfg.S3)}; got != [2]string{"artifacts", "builds-website"} {
		t.Errorf("docs builds go to %v; want the builds' bucket, next to their folder", got)
	}
	bucket, prefix, url := w.PreviewAt(cfg.S3, 1)
	if got := [3]string{bucket, prefix, url}; got != [3]string{"previews", "pr", "https://preview.example.org/"} {
		t.Errorf("slot 1 is %v", got)
	}
	if w.Timeout != Duration(DefaultWebsiteTimeout) || w.StopTimeout != Duration(DefaultWebsiteStopTimeout) {
		t.Errorf("timeouts %v, %v", w.Timeout, w.StopTimeout)
	}
	var none *Website
	if none.UploadBucket(cfg.S3) != "artifacts" || none.UploadPrefix(cfg.S3) != "builds-website" {
		t.Error("without a website section, refbot upload --kind website still knows where sites go")
	}
}

func TestWebsiteSlots(t *testing.T) {
	cfg, err := parse("config.yaml", t.TempDir(), []byte(inS3("  prefix: builds\n")+
		"website:\n  preview: {prefix: \"previews/{slot}\", url: \"https://{slot}.preview.example.org/\"}\n"+
		"policy:\n  verbs:\n    WEBSITE: {slots: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	bucket, prefix, url := cfg.Website.PreviewAt(cfg.S3, 2)
	if got := [3]string{bucket, prefix, url}; got != [3]string{"artifacts", "previews/2", "https://2.preview.example.org/"} {
		t.Errorf("slot 2 is %v", got)
	}
}

func TestWebsiteProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "no preview address",
			src:  withWebsite("  s3_bucket: sites\n  preview: {bucket: previews}\n"),
			want: []string{`config.yaml: website.preview.url: required: the address readers open the preview at, e.g. https://preview.example.org/`},
		},
		{
			name: "a limit written in the website section",
			src:  withWebsite("  hold: 3h\n  s3_bucket: sites\n  preview: {bucket: previews, url: \"https://p.example.org/\"}\n"),
			want: []string{`config.yaml:10:3: website: unknown key "hold": WEBSITE's limits are set as every verb's, write policy.verbs.WEBSITE.hold`},
		},
		{
			name: "the preview inside the builds' folder",
			src:  withWebsite("  preview: {prefix: anything, url: \"https://p.example.org/\"}\n"),
			want: []string{
				`config.yaml:10:13: website.preview.prefix: the preview must be outside s3.prefix (""), where the test builds are`,
				`config.yaml: website.s3_prefix: docs builds need a folder of their own, outside s3.prefix (""): the builds' folder is pruned of what is not a test build; set website.s3_prefix (or website.s3_bucket)`,
			},
		},
		{
			name: "several slots without {slot}",
			src: withWebsite("  s3_bucket: sites\n  preview: {bucket: previews, prefix: p, url: \"https://p.example.org/\"}\n") +
				"policy:\n  verbs:\n    WEBSITE: {slots: 2}\n",
			want: []string{
				`config.yaml:11:31: website.preview.prefix: must hold {slot} with policy.verbs.WEBSITE.slots at 2: each slot is a preview of its own`,
				`config.yaml:11:42: website.preview.url: must hold {slot} with policy.verbs.WEBSITE.slots at 2: each slot is a preview of its own`,
			},
		},
		{
			name: "Travis with a workflow, refbot's own variables, a bad address",
			src: withWebsite("  s3_bucket: sites\n  workflow: docs.yaml\n  env: {REFBOT_WEBSITE_PR: \"1\", \"1X\": a}\n" +
				"  preview: {bucket: previews, url: \"ftp://p.example.org/\"}\n"),
			want: []string{
				`config.yaml:11:3: website.workflow: is GitHub Actions'; on Travis the docs build is a build request with website.env`,
				`config.yaml:12:9: website.env.REFBOT_WEBSITE_PR: REFBOT_WEBSITE_ variables are refbot's own (the PR, the head, the request)`,
				`config.yaml:12:33: website.env.1X: "1X" is not a variable name`,
				`config.yaml:13:31: website.preview.url: "ftp://p.example.org/" is not an http(s) address`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, loadProblems(t, tt.src)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
