package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func start(t *testing.T, ready func(context.Context) error, o Options) (string, context.CancelFunc, chan error) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "refbot_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	o.Listen = "127.0.0.1:0"
	o.Ready = ready
	o.Gatherer = reg
	if o.Webhook == nil {
		o.Webhook = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprintln(w, "queued")
		})
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(cancel)
	return "http://" + s.Addr(), cancel, done
}

func TestEndpoints(t *testing.T) {
	var notReady error
	url, _, _ := start(t, func(context.Context) error { return notReady }, Options{})
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	notReady = errors.New("database: database is locked\nS3: no such bucket")
	if code, body := get("/readyz"); code != 503 || body != "not ready\ndatabase: database is locked\nS3: no such bucket\n" {
		t.Errorf("/readyz while not ready: %d %q, want 503 and a problem a line", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "refbot_test_total 1") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, _ := get("/webhook"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /webhook: %d", code)
	}
}

// TestSlowClientsAreCut: a client that never finishes its headers, or
// trickles its body, is disconnected by the timeouts.
func TestSlowClientsAreCut(t *testing.T) {
	url, _, _ := start(t, func(context.Context) error { return nil },
		Options{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond})
	addr := strings.TrimPrefix(url, "http://")
	for _, tc := range []struct{ name, send string }{
		{"headers never end", "POST /webhook HTTP/1.1\r\nHost: x\r\n"},
		{"body trickles", "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tc.send)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			_, err = bufio.NewReader(conn).ReadString('\n')
			// The server either answers with an error or drops the
			// connection; it must not wait for the client.
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server kept the connection open for %v", time.Since(start))
			}
		})
	}
}

// TestShutdownFinishesRequests: on shutdown a request in flight is answered.
func TestShutdownFinishesRequests(t *testing.T) {
	started := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintln(w, "queued")
	})
	url, cancel, done := start(t, func(context.Context) error { return nil }, Options{Webhook: slow})
	result := make(chan string, 1)
	go func() {
		resp, err := http.Post(url+"/webhook", "application/json", strings.NewReader("{}"))
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-started
	cancel()
	if got := <-result; strings.TrimSpace(got) != "queued" {
		t.Errorf("in-flight request got %q", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}
