package config

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Website configures BUILDBOT: WEBSITE: the docs build CI runs for a PR's
// head, where it uploads the built site, and the preview location refbot
// publishes it to (docs/design.md, "WEBSITE"). Its limits (hold, daily cap,
// slots, blackout windows) are WEBSITE's in policy.verbs, as every verb's.
type Website struct {
	// Branch is the project's branch whose CI configuration runs the docs
	// build (its workflow file, its .travis.yml); default the PR's base.
	Branch string `yaml:"branch"`
	// Workflow is the docs workflow's file name in .github/workflows
	// (GitHub Actions); it must have a workflow_dispatch trigger with the
	// inputs pr, sha and request.
	Workflow string `yaml:"workflow"`
	// Env are variables added to the docs build's env.global (Travis).
	Env map[string]string `yaml:"env"`
	// S3Bucket and S3Prefix are where the docs build uploads the site
	// (refbot upload --kind website); default s3.bucket and
	// "<s3.prefix>-website".
	S3Bucket string `yaml:"s3_bucket"`
	S3Prefix string `yaml:"s3_prefix"`
	// Preview is where a site is published.
	Preview Preview `yaml:"preview"`
	// Timeout is how long refbot follows a docs build; default 2h.
	Timeout Duration `yaml:"timeout"`
	// StopCommand is run by STOP after the CI cancel, for a builder that
	// is a machine of the project's own; argv, no shell. It gets refbot's
	// environment without the variables refbot's secrets are read from
	// ({env: NAME}) and PGPASSWORD: give it credentials of its own.
	// StopTimeout bounds it; default 1m.
	StopCommand []string `yaml:"stop_command"`
	StopTimeout Duration `yaml:"stop_timeout"`
}

// Preview is the preview location: a folder of a bucket that a web server
// (S3's static website hosting, a CDN) serves at URL. With more than one
// slot (policy.verbs.WEBSITE.slots), Prefix and URL hold "{slot}", which
// is the slot's number.
type Preview struct {
	Bucket string `yaml:"bucket"` // default s3.bucket
	Prefix string `yaml:"prefix"` // the preview's folder in the bucket
	URL    string `yaml:"url"`    // the address readers open the preview at
}

// The website section's defaults.
const (
	DefaultWebsiteTimeout     = 2 * time.Hour
	DefaultWebsiteStopTimeout = time.Minute
	websitePrefixSuffix       = "-website"
	slotPlaceholder           = "{slot}"
)

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// verbLimitKeys are the keys of a verb's limits (VerbPolicy).
var verbLimitKeys = []string{"cooldown", "max_per_day", "when_capped", "hold", "slots", "blackout"}

// UploadBucket is the bucket docs builds upload to.
func (w *Website) UploadBucket(s S3) string {
	if w == nil || w.S3Bucket == "" {
		return s.Bucket
	}
	return w.S3Bucket
}

// UploadPrefix is the folder docs builds upload to: website.s3_prefix, or
// next to the test builds' folder ("<s3.prefix>-website").
func (w *Website) UploadPrefix(s S3) string {
	if w != nil && w.S3Prefix != "" {
		return strings.Trim(w.S3Prefix, "/")
	}
	if s.Prefix == "" {
		return ""
	}
	return strings.Trim(s.Prefix, "/") + websitePrefixSuffix
}

// PreviewAt is slot's preview location: its bucket, its folder and the URL
// readers open.
func (w *Website) PreviewAt(s S3, slot int) (bucket, prefix, url string) {
	n := strconv.Itoa(slot)
	bucket = w.Preview.Bucket
	if bucket == "" {
		bucket = s.Bucket
	}
	prefix = strings.Trim(strings.ReplaceAll(w.Preview.Prefix, slotPlaceholder, n), "/")
	return bucket, prefix, strings.ReplaceAll(w.Preview.URL, slotPlaceholder, n)
}

func (w *Website) applyDefaults() {
	if w.Timeout == 0 {
		w.Timeout = Duration(DefaultWebsiteTimeout)
	}
	if w.StopTimeout == 0 {
		w.StopTimeout = Duration(DefaultWebsiteStopTimeout)
	}
	w.S3Prefix = strings.Trim(w.S3Prefix, "/")
	w.Preview.Prefix = strings.Trim(w.Preview.Prefix, "/")
}

// overlapping says whether folder a of a bucket is b, inside it, or holds
// it: "" is the bucket's root.
func overlapping(a, b string) bool {
	in := func(x, y string) bool { return y == "" || x == y || strings.HasPrefix(x, y+"/") }
	return in(a, b) || in(b, a)
}

func (c *Config) checkWebsite(ck *checker) {
	w := c.Website
	if w == nil {
		return
	}
	if w.Branch != "" {
		if msg := checkBranchName(w.Branch); msg != "" {
			ck.add("website.branch", "%s", msg)
		}
	}
	switch c.CI.Provider {
	case ProviderGitHubActions:
		if ck.nonEmpty("website.workflow", w.Workflow, "the docs workflow's file name in .github/workflows, e.g. docs.yaml") &&
			strings.Contains(w.Workflow, "/") {
			ck.add("website.workflow", "write the file name alone, like %q", w.Workflow[strings.LastIndex(w.Workflow, "/")+1:])
		}
		if len(w.Env) > 0 {
			ck.add("website.env", "is Travis's; a GitHub Actions docs workflow gets the inputs pr, sha and request")
		}
	case ProviderTravis:
		if w.Workflow != "" {
			ck.add("website.workflow", "is GitHub Actions'; on Travis the docs build is a build request with website.env")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(w.Env)) {
		switch {
		case !envNamePattern.MatchString(k):
			ck.add("website.env."+k, "%q is not a variable name", k)
		case strings.HasPrefix(k, "REFBOT_WEBSITE_"):
			ck.add("website.env."+k, "REFBOT_WEBSITE_ variables are refbot's own (the PR, the head, the request)")
		}
	}
	uploadBucket, uploadPrefix := w.UploadBucket(c.S3), w.UploadPrefix(c.S3)
	if uploadBucket == c.S3.Bucket && overlapping(uploadPrefix, c.S3.Prefix) {
		ck.add("website.s3_prefix", "docs builds need a folder of their own, outside s3.prefix (%q): the builds' folder is pruned of what is not a test build; set website.s3_prefix (or website.s3_bucket)",
			c.S3.Prefix)
	}
	slots := c.Policy.Limits("WEBSITE").Slots
	if ck.nonEmpty("website.preview.url", w.Preview.URL, "the address readers open the preview at, e.g. https://preview.example.org/") {
		if u, err := url.Parse(strings.ReplaceAll(w.Preview.URL, slotPlaceholder, "1")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ck.add("website.preview.url", "%q is not an http(s) address", w.Preview.URL)
		}
	}
	previewBucket, _, _ := w.PreviewAt(c.S3, 1)
	if strings.ContainsAny(previewBucket, "/: ") {
		ck.add("website.preview.bucket", "%q is not a bucket name", previewBucket)
	}
	if slots > 1 {
		for key, v := range map[string]string{"website.preview.prefix": w.Preview.Prefix, "website.preview.url": w.Preview.URL} {
			if v != "" && !strings.Contains(v, slotPlaceholder) {
				ck.add(key, "must hold {slot} with policy.verbs.WEBSITE.slots at %d: each slot is a preview of its own", slots)
			}
		}
	}
	for slot := 1; slot <= max(slots, 1); slot++ {
		bucket, prefix, _ := w.PreviewAt(c.S3, slot)
		switch {
		case bucket == c.S3.Bucket && overlapping(prefix, c.S3.Prefix):
			ck.add("website.preview.prefix", "the preview must be outside s3.prefix (%q), where the test builds are", c.S3.Prefix)
		case bucket == uploadBucket && overlapping(prefix, uploadPrefix):
			ck.add("website.preview.prefix", "the preview must be outside the docs builds' folder (%q)", uploadPrefix)
		default:
			continue
		}
		break
	}
	for i, a := range w.StopCommand {
		if i == 0 && a == "" {
			ck.add("website.stop_command", "the first element is the program to run")
		}
	}
	if w.Timeout < 0 {
		ck.add("website.timeout", "must not be negative")
	}
	if w.StopTimeout < 0 {
		ck.add("website.stop_timeout", "must not be negative")
	}
}
