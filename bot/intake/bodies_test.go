package intake

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingBody is a request body that counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

// padded is a signed-able comment delivery padded with spaces (which
// JSON allows) to n bytes.
func padded(n int, id int64) []byte {
	body := comment("created", "BUILDBOT: UPDATE", "alice", "User", true, id)
	return append(body, bytes.Repeat([]byte(" "), n-len(body))...)
}

// signedRequest is a POST of body as GitHub sends it, with length: its
// Content-Length (-1: none, as a chunked body has).
func signedRequest(delivery string, body io.Reader, sig string, length int64) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhook", body)
	r.ContentLength = length
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-GitHub-Event", "issue_comment")
	r.Header.Set("X-GitHub-Delivery", delivery)
	r.Header.Set("X-Hub-Signature-256", sig)
	return r
}

// TestBodyCaps: a body announced over MaxBody is refused with 413 before
// a byte of it is read, signed or not; one without a Content-Length
// (chunked) is cut at MaxBody with 413; bodies at the cap, with or
// without a length, are read and recorded.
func TestBodyCaps(t *testing.T) {
	atCap := padded(MaxBody, 1)
	over := padded(MaxBody+1, 2)
	tests := []struct {
		name     string
		body     []byte
		sig      string
		length   int64 // -1: chunked
		code     int
		maxRead  int64 // the most the handler may read of the body
		recorded bool
	}{
		{"announced over the cap", over, Sign(secret, over), MaxBody + 1, http.StatusRequestEntityTooLarge, 0, false},
		{"announced over the cap, unsigned", over, "", MaxBody + 1, http.StatusRequestEntityTooLarge, 0, false},
		{"announced far over the cap", over, "sha256=00", 1 << 40, http.StatusRequestEntityTooLarge, 0, false},
		{"chunked over the cap", over, Sign(secret, over), -1, http.StatusRequestEntityTooLarge, MaxBody + 1, false},
		{"at the cap", atCap, Sign(secret, atCap), MaxBody, http.StatusOK, MaxBody, true},
		{"chunked at the cap", atCap, Sign(secret, atCap), -1, http.StatusOK, MaxBody, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newMemRecorder()
			h := newHandler(t, rec)
			body := &countingBody{r: bytes.NewReader(tc.body)}
			r := signedRequest("d-"+tc.name, nil, tc.sig, tc.length)
			r.Body = body
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.code)
			}
			if n := body.read.Load(); n > tc.maxRead {
				t.Errorf("read %d bytes of the body, want at most %d", n, tc.maxRead)
			}
			if got := rec.queued() == 1; got != tc.recorded {
				t.Errorf("recorded: %v, want %v", got, tc.recorded)
			}
		})
	}
}

// TestBodyCapsOverHTTP: the same through a real server and connection: a
// request announcing 26 MB is answered 413 while its body has not been
// sent at all, and a chunked body over the cap is refused.
func TestBodyCapsOverHTTP(t *testing.T) {
	h := newHandler(t, newMemRecorder())
	var length atomic.Int64 // the Content-Length the handler saw last
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		length.Store(r.ContentLength)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: issue_comment\r\n"+
		"X-GitHub-Delivery: d1\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: %d\r\n\r\n", MaxBody+1)
	// A safety net only: a handler that waited for the body would wait
	// for ever.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("announced 26 MB: status %d, want 413", resp.StatusCode)
	}

	over := padded(MaxBody+1, 2)
	// A body of unknown length: the client sends it chunked.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", io.MultiReader(bytes.NewReader(over)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "issue_comment")
	req.Header.Set("X-GitHub-Delivery", "d2")
	req.Header.Set("X-Hub-Signature-256", Sign(secret, over))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := length.Load(); n != -1 {
		t.Errorf("the body came with a length (%d), not chunked", n)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked, over the cap: status %d, want 413", resp.StatusCode)
	}
}

// TestLargeBodiesTakeTurns: bodies over SmallBody are read LargeBodies at
// a time. While the turns are taken, a further large body waits
// LargeBodyWait and is answered 503 with Retry-After, unread; a small
// delivery (what refbot acts on) goes ahead at once; and once a turn is
// given back, a large body is read again. A large body that waits while
// a turn comes free is read, not refused.
func TestLargeBodiesTakeTurns(t *testing.T) {
	rec := newMemRecorder()
	h, err := New(Options{
		Secrets: []string{secret}, Repo: "octo-org/octo-repo", Recorder: rec,
		HasCommand:  func(body string) bool { return strings.Contains(body, "BUILDBOT:") },
		LargeBodies: 2, LargeBodyWait: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	size := SmallBody + 1
	// hold sends a large delivery whose body arrives only when release
	// is closed; its answer comes on the channel returned.
	hold := func(id int64, release chan struct{}) chan int {
		body := padded(size, id)
		pr, pw := io.Pipe()
		go func() {
			<-release
			pw.Write(body)
			pw.Close()
		}()
		done := make(chan int, 1)
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, signedRequest(fmt.Sprint("held-", id), pr, Sign(secret, body), int64(size)))
			done <- w.Code
		}()
		return done
	}
	send := func(id int64, n int) *httptest.ResponseRecorder {
		body := padded(n, id)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, signedRequest(fmt.Sprint("sent-", id), bytes.NewReader(body), Sign(secret, body), int64(n)))
		return w
	}
	release1, release2 := make(chan struct{}), make(chan struct{})
	held1, held2 := hold(1, release1), hold(2, release2)
	// Both wait for their bodies, holding the turns.
	turnsTaken := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); len(h.large) < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) { // a safety net, not a measure
				t.Fatalf("%d turns taken, want %d", len(h.large), n)
			}
		}
	}
	turnsTaken(2)

	refused := &countingBody{r: bytes.NewReader(padded(size, 3))}
	r := signedRequest("refused", nil, "sha256=00", int64(size))
	r.Body = refused
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("a third large body: status %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if n := refused.read.Load(); n != 0 {
		t.Errorf("read %d bytes of the refused body", n)
	}
	if w := send(4, 4<<10); w.Code != http.StatusOK {
		t.Errorf("a small delivery while the large ones are read: status %d (%s), want 200", w.Code, strings.TrimSpace(w.Body.String()))
	}

	close(release1)
	if code := <-held1; code != http.StatusOK {
		t.Errorf("the first held delivery: status %d, want 200", code)
	}
	if w := send(5, size); w.Code != http.StatusOK {
		t.Errorf("a large body once a turn is free: status %d, want 200", w.Code)
	}

	// LargeBodyWait long: a large body waits for the turn held2 gives
	// back instead of being refused.
	h.opts.LargeBodyWait = time.Hour
	held6 := hold(6, release2) // released with held2: its body is there at once
	turnsTaken(2)
	waited := make(chan int, 1)
	go func() { waited <- send(7, size).Code }()
	close(release2)
	for _, ch := range []chan int{held2, held6, waited} {
		if code := <-ch; code != http.StatusOK {
			t.Errorf("status %d after waiting for a turn, want 200", code)
		}
	}
	if n := rec.queued(); n != 6 {
		t.Errorf("%d deliveries recorded, want 6 (all but the refused one)", n)
	}
	if len(h.large) != 0 {
		t.Errorf("%d turns still taken after every answer", len(h.large))
	}
}

// TestRawBodyFidelity: the signature is checked over the bytes as sent,
// never a re-encoding: a payload with non-ASCII text, a raw U+2028, its
// escaped form, tabs and CRLF between tokens verifies and decodes as
// written; a form-encoded body (which GitHub sends when the webhook's
// content type is set so) is refused with 400, correctly signed or not,
// and nothing is recorded.
func TestRawBodyFidelity(t *testing.T) {
	text := "Grüße, 日本 \u2028 next\\u2028 BUILDBOT: UPDATE"
	body := []byte("{\r\n\t\"action\" :\t\"created\",\r\n  \"repository\":{\"full_name\":\"octo-org/octo-repo\"},\n" +
		"\"issue\":{\"number\":12,\"pull_request\":{\"url\":\"x\"}},\"comment\":{\"id\":9,\"body\":\"" + text + "\"," +
		"\"user\":{\"login\":\"alice\",\"type\":\"User\"}},\"sender\":{\"login\":\"alice\",\"type\":\"User\"}}\r\n")
	rec := newMemRecorder()
	if w := post(newHandler(t, rec), "issue_comment", "raw", Sign(secret, body), body); w.Code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", w.Code, strings.TrimSpace(w.Body.String()))
	}
	want := "Grüße, 日本 \u2028 next\u2028 BUILDBOT: UPDATE"
	if got := rec.deliveries["raw"].Work.(CommentWork).Body; got != want {
		t.Errorf("comment decoded as %q, want %q", got, want)
	}

	form := []byte("payload=" + strings.ReplaceAll(string(body), "\"", "%22"))
	rec = newMemRecorder()
	h := newHandler(t, rec)
	r := signedRequest("form", bytes.NewReader(form), Sign(secret, form), int64(len(form)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "application/json") {
		t.Errorf("form-encoded: status %d (%s), want 400 naming application/json", w.Code, strings.TrimSpace(w.Body.String()))
	}
	if len(rec.deliveries) != 0 {
		t.Errorf("a form-encoded delivery was recorded")
	}
}
