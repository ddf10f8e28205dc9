package sandbox

// The canary test's tools: the canaries and every form of them a leak
// could take, the places refbot's output is gathered from, a gate in front
// of each outside system, and a sampler of the processes refbot starts.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// canaries are the secrets refbot is given in the canary test, by name:
// each a value found nowhere else.
type canaries map[string]string

func newCanaries() canaries {
	h := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	return canaries{
		// Shaped as the real ones, where refbot looks at the shape.
		"github-token": "ghp_CANARYgithub" + h(12),
		// MinIO takes access keys of at most 20 characters and secret keys
		// of at most 40.
		"s3-access-key":       "AKIACANARY" + h(5),
		"s3-secret-key":       "CANARY-s3secret-" + h(10),
		"webhook-secret":      "CANARY-webhook-" + h(12),
		"data-token":          "CANARY-datarepo-" + h(12),
		"travis-token":        "CANARY-travis-" + h(12),
		"api-token":           "CANARY-api-" + h(12),
		"pages-token":         "CANARY-pagestoken-" + h(12),
		"session-key":         "CANARY-sessionkey-" + h(16),
		"oauth-client-secret": "CANARY-oauthsecret-" + h(12),
	}
}

// needle is one form a canary could leak in.
type needle struct {
	canary, form string
	text         string
}

// needles are every canary in every form: as is, URL-encoded, hex,
// base64 (standard and URL alphabets, at each of the three alignments
// it can have inside a longer encoded text, so that a canary in the
// middle of an encoded header is found too), and the Basic auth
// credentials of git over https, x-access-token:<canary>, encoded.
func (c canaries) needles() []needle {
	var out []needle
	seen := map[string]bool{}
	add := func(name, form, text string) {
		if len(text) < 12 || seen[text] {
			return
		}
		seen[text] = true
		out = append(out, needle{canary: name, form: form, text: text})
	}
	for _, name := range slices.Sorted(maps.Keys(c)) {
		v := c[name]
		add(name, "raw", v)
		add(name, "query-escaped", url.QueryEscape(v))
		add(name, "path-escaped", url.PathEscape(v))
		add(name, "hex", hex.EncodeToString([]byte(v)))
		basic := "x-access-token:" + v
		add(name, "basic-auth base64", base64.StdEncoding.EncodeToString([]byte(basic)))
		for _, enc := range []struct {
			form string
			e    *base64.Encoding
		}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
			for k := range 3 {
				add(name, fmt.Sprintf("%s (offset %d)", enc.form, k), base64Core(enc.e, v, k))
			}
		}
	}
	return out
}

// base64Core is the part of the encoding of v, preceded by k other bytes,
// that does not depend on the bytes around it: the characters whose six
// bits all come from v.
func base64Core(e *base64.Encoding, v string, k int) string {
	enc := e.EncodeToString(append(make([]byte, k), v...))
	start, end := (8*k+5)/6, 8*(k+len(v))/6
	return enc[start:end]
}

// capture is something refbot wrote, said or sent, and where it was seen.
type capture struct {
	where string
	data  []byte
}

// finding is a canary found in a capture.
type finding struct {
	where, canary, form, context string
}

func (f finding) String() string {
	return fmt.Sprintf("%s: %s (%s) in …%s…", f.where, f.canary, f.form, f.context)
}

// scan looks for every needle in every capture.
func scan(caps []capture, needles []needle) []finding {
	var out []finding
	for _, c := range caps {
		for _, n := range needles {
			if i := bytes.Index(c.data, []byte(n.text)); i >= 0 {
				from, to := max(0, i-40), min(len(c.data), i+len(n.text)+40)
				out = append(out, finding{where: c.where, canary: n.canary, form: n.form, context: strconv.Quote(string(c.data[from:to]))})
			}
		}
	}
	return out
}

// recorder keeps captures; safe for concurrent use.
type recorder struct {
	mu   sync.Mutex
	caps []capture
}

func (r *recorder) add(where string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.caps = append(r.caps, capture{where: where, data: slices.Clone(data)})
}

func (r *recorder) all() []capture {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.caps)
}

// gateMode says what a gate does with refbot's requests.
type gateMode int

const (
	gatePass    gateMode = iota // pass them on
	gateRotated                 // pass them on with credentials the system no longer takes
	gateDown                    // answer 503 itself, as a system in an outage
	gateCut                     // close the connection without an answer
)

// gate is a reverse proxy in front of one of refbot's outside systems
// (GitHub, S3, Travis). It records everything refbot sends but its
// credentials header, which is where the credentials belong, and can make
// the system refuse refbot's credentials (they are replaced on the way,
// so the refusal is the system's own) or fail.
type gate struct {
	name    string
	URL     string
	rec     *recorder
	rotate  func(h http.Header) // makes the credentials of a request wrong
	private func(r *http.Request) bool

	mu      sync.Mutex
	mode    gateMode
	matches func(r *http.Request) bool // which requests the mode applies to; nil: all
	hits    int                        // requests a mode other than pass applied to
}

// newGate starts a gate in front of target (scheme://host:port).
// private says which requests carry a secret to where it belongs in their
// body (the OAuth client secret to GitHub's token exchange): their bodies
// are not recorded.
func newGate(t *testing.T, name, target string, rec *recorder, rotate func(http.Header), private func(*http.Request) bool) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{name: name, rec: rec, rotate: rotate, private: private}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // S3 signs the Host header: keep the one refbot signed
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		g.record(r, body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		g.mu.Lock()
		mode := g.mode
		if mode != gatePass && g.matches != nil && !g.matches(r) {
			mode = gatePass
		}
		if mode != gatePass {
			g.hits++
		}
		g.mu.Unlock()
		switch mode {
		case gateRotated:
			g.rotate(r.Header)
		case gateDown:
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		case gateCut:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // a reset, not an orderly close
				}
				conn.Close()
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// record keeps what refbot sent: the request line, the headers but the
// credentials, and the body.
func (g *gate) record(r *http.Request, body []byte) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
	for k, vs := range r.Header {
		if k == "Authorization" {
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	if g.private == nil || !g.private(r) {
		b.Write(body)
	}
	g.rec.add("request to "+g.name+": "+r.Method+" "+r.URL.Path, b.Bytes())
}

// set switches the gate's mode for the requests matches selects (nil:
// all) and returns the requests it applied to so far.
func (g *gate) set(mode gateMode, matches func(*http.Request) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode, g.matches, g.hits = mode, matches, 0
}

func (g *gate) applied() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits
}

// s3Credential matches the access key in an S3 request's Authorization.
var s3Credential = regexp.MustCompile(`Credential=[^/]+/`)

// Rotations: what a request carries once its credentials are revoked.
func rotateGitHub(h http.Header) { h.Set("Authorization", "token ghp_revokedrevokedrevoked00000000") }
func rotateTravis(h http.Header) { h.Set("Authorization", "token revoked-travis-token") }
func rotateS3(h http.Header) {
	h.Set("Authorization", s3Credential.ReplaceAllString(h.Get("Authorization"), "Credential=AKIAREVOKED000000000/"))
}

// sampler reads, every few milliseconds, the command line and environment
// of each process below refbot serve (children and theirs), as ps or a
// local user could.
type sampler struct {
	rec  *recorder
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	root int
	seen map[string]bool // pid and command line, of each process sampled
}

func startSampler(rec *recorder) *sampler {
	s := &sampler{rec: rec, stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]bool{}}
	go func() {
		defer close(s.done)
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return s
}

// watch makes pid (a refbot serve) the process whose descendants are
// sampled.
func (s *sampler) watch(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root = pid
}

func (s *sampler) close() {
	close(s.stop)
	<-s.done
}

// processes returns the processes sampled so far: pid and command line.
func (s *sampler) processes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.seen))
}

func (s *sampler) sample() {
	s.mu.Lock()
	root := s.root
	s.mu.Unlock()
	if root == 0 {
		return
	}
	for _, pid := range descendants(root) {
		cmdline, environ, err := readProcess(pid)
		if err != nil {
			continue // it ended
		}
		key := fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		s.mu.Lock()
		first := !s.seen[key]
		s.seen[key] = true
		s.mu.Unlock()
		if first {
			s.rec.add(fmt.Sprintf("argv of process %s", key), cmdline)
			s.rec.add(fmt.Sprintf("environment of process %s", key), environ)
		}
	}
}

// readProcess reads a process's command line and environment from /proc.
func readProcess(pid int) (cmdline, environ []byte, err error) {
	if cmdline, err = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil {
		return nil, nil, err
	}
	if environ, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil {
		return nil, nil, err
	}
	return cmdline, environ, nil
}

// descendants are the processes below pid, from /proc/*/stat.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(fields[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// stateFiles captures the files of refbot's state folder but its
// database.
func stateFiles(t *testing.T, dir string) []capture {
	t.Helper()
	var out []capture
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		if strings.HasPrefix(d.Name(), "refbot.db") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, capture{where: "state file " + p, data: b})
		return nil
	})
	if err != nil {
		t.Fatalf("read the state folder: %v", err)
	}
	return out
}
