package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Replicas are `refbot serve` processes sharing one PostgreSQL database
// behind one address, as an operator runs refbot when one machine is not
// enough: a round-robin proxy on loopback, which every delivery of the
// sandbox goes to (Sandbox.URL is the proxy's). Each replica has its own
// listen address and state folder (its data-repo cache).
type Replicas struct {
	sb       *Sandbox
	Database string // the PostgreSQL URL they share

	mu       sync.Mutex
	backends []string // the replicas' addresses, in start order
	next     int
	proxy    *http.Server
}

// Replica is one refbot serve of Replicas.
type Replica struct {
	*Refbot
	Name   string
	Listen string
}

// IDPrefix begins the replica's id, as it names itself among the replicas
// (River's client id, its leases' holder): "serve-PID-".
func (r *Replica) IDPrefix() string { return fmt.Sprintf("serve-%d-", r.Cmd.Process.Pid) }

// StartReplicas starts the proxy in front of replicas sharing database;
// from now on the sandbox's deliveries go through it. Close stops it.
func (s *Sandbox) StartReplicas(database string) (*Replicas, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rs := &Replicas{sb: s, Database: database}
	rs.proxy = &http.Server{Handler: http.HandlerFunc(rs.forward), ReadHeaderTimeout: 10 * time.Second}
	go rs.proxy.Serve(l)
	s.Listen = l.Addr().String()
	return rs, nil
}

// Close stops the proxy (not the replicas).
func (rs *Replicas) Close() { rs.proxy.Close() }

// forward sends a request to the replicas in turn, going on to the next
// when one does not answer (stopped or killed), as a load balancer's
// retry does.
func (rs *Replicas) forward(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rs.mu.Lock()
	backends, first := append([]string(nil), rs.backends...), rs.next
	rs.next++
	rs.mu.Unlock()
	for i := range backends {
		addr := backends[(first+i)%len(backends)]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			continue // not answering: the next one
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no replica answers", http.StatusBadGateway)
}

// Start starts replica name (its folder in the sandbox is name/) with
// extra environment variables, waits until it is ready, and puts it
// behind the proxy.
func (rs *Replicas) Start(ctx context.Context, bin, name string, extraEnv ...string) (*Replica, error) {
	s := rs.sb
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	listen := l.Addr().String()
	l.Close()
	conf, err := rs.config(name, listen)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.Work, name+".yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(s.Work, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env, cmd.Stdout, cmd.Stderr = append(s.Env, extraEnv...), logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	r := &Replica{Refbot: &Refbot{Cmd: cmd, Log: logf.Name(), done: make(chan error, 1)}, Name: name, Listen: listen}
	go func() { r.done <- cmd.Wait(); logf.Close() }()
	for {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-r.done:
			log, _ := os.ReadFile(r.Log)
			return nil, fmt.Errorf("replica %s exited before it was ready: %v\n%s", name, err, log)
		case <-ctx.Done():
			r.Kill()
			return nil, fmt.Errorf("replica %s did not become ready: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	rs.mu.Lock()
	rs.backends = append(rs.backends, listen)
	rs.mu.Unlock()
	return r, s.announce(ctx)
}

// config is the sandbox's configuration for replica name: its own listen
// address and state folder, the shared database, the proxy as the public
// address.
func (rs *Replicas) config(name, listen string) (string, error) {
	s := rs.sb
	conf := s.configYAML()
	for _, c := range []struct{ old, new string }{
		{"  listen: " + s.Listen + "\n", "  listen: " + listen + "\n"},
		{"state_dir: " + filepath.Join(s.Work, "state") + "\n", "state_dir: " + filepath.Join(s.Work, name, "state") + "\n"},
	} {
		if strings.Count(conf, c.old) != 1 {
			return "", fmt.Errorf("the sandbox's configuration has no line %q to change for a replica", strings.TrimSpace(c.old))
		}
		conf = strings.Replace(conf, c.old, c.new, 1)
	}
	return conf + "database: " + rs.Database + "\n", nil
}
