package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// MinIOServer is a real MinIO server on 127.0.0.1 with its data in a
// temporary folder.
type MinIOServer struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	stop      func() // StartMinIO's: stops the server and removes its data, once
}

// Stop stops a server StartMinIO started, and removes its data, now rather
// than when the tests end: a server left running goes on writing in its
// folder, which a test's TempDir cleanup then cannot remove.
func (s *MinIOServer) Stop() {
	if s.stop != nil {
		s.stop()
	}
}

var (
	minioOnce sync.Once
	minioSrv  *MinIOServer
	minioErr  error
	bucketSeq atomic.Int64
)

// MinIOBinary returns the path of the minio binary: $REFBOT_MINIO if set,
// else .tools/bin/minio in the repository (installed by `make tools`).
func MinIOBinary() (string, error) {
	if p := os.Getenv("REFBOT_MINIO"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	p := filepath.Join(root, ".tools", "bin", "minio")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("minio binary not found at %s: run `make tools` (or set REFBOT_MINIO)", p)
	}
	return p, nil
}

// MinIO returns the test binary's MinIO server, starting it on first use.
// It is stopped by Run at the end of the package's tests.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	minioOnce.Do(func() {
		minioSrv, minioErr = StartMinIO(os.TempDir())
	})
	if minioErr != nil {
		t.Fatalf("start minio: %v", minioErr)
	}
	return minioSrv
}

// StartMinIO starts a MinIO server with its data under a new folder in
// parent and registers its stop with Run. `make demo` uses it directly.
func StartMinIO(parent string) (*MinIOServer, error) {
	return StartMinIOAs(parent, "", "")
}

// StartMinIOAs is StartMinIO with the given credentials ("": made up); the
// canary test gives them values it can look for.
func StartMinIOAs(parent, accessKey, secretKey string) (*MinIOServer, error) {
	bin, err := MinIOBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "refbot-minio-")
	if err != nil {
		return nil, err
	}
	s := &MinIOServer{AccessKey: "refbot-test", SecretKey: "refbot-test-secret-" + hexString(8), Region: "us-east-1"}
	if accessKey != "" {
		s.AccessKey = accessKey
	}
	if secretKey != "" {
		s.SecretKey = secretKey
	}
	// A free port can be taken between our probe and MinIO's bind: retry.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
		console, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "server", "--quiet",
			"--address", fmt.Sprintf("127.0.0.1:%d", port),
			"--console-address", fmt.Sprintf("127.0.0.1:%d", console),
			filepath.Join(dir, "data"))
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+s.AccessKey,
			"MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CI_CD=1",
		)
		logf, err := os.Create(filepath.Join(dir, "minio.log"))
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitHealthy(s.Endpoint, exited, 60*time.Second); err != nil {
			cmd.Process.Kill()
			logf.Close()
			if attempt < 3 {
				continue
			}
			log, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			return nil, fmt.Errorf("minio did not become healthy: %w\n%s", err, log)
		}
		var once sync.Once
		s.stop = func() {
			once.Do(func() {
				cmd.Process.Signal(os.Interrupt)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
				logf.Close()
				os.RemoveAll(dir)
			})
		}
		atExit(s.stop)
		return s, nil
	}
}

// Stop runs every registered stop now; for programs (make demo) that do not
// go through Run.
func Stop() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

var bucketUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// BucketName returns a bucket name unique within this test binary, derived
// from the test's name so a failure is easy to find in MinIO's data.
func (s *MinIOServer) BucketName(t testing.TB) string {
	name := bucketUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-")
	name = strings.Trim(name, "-")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d-%s", bucketSeq.Add(1), strings.Trim(name, "-"))
}

func waitHealthy(endpoint string, exited <-chan error, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/minio/health/live", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("minio exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func hexString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
