package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresServer is a throwaway PostgreSQL server on 127.0.0.1, its data in
// a temporary folder, reached without a password (trust) as user refbot.
type PostgresServer struct {
	Port int
	Dir  string // the server's folder: data/ and postgres.log
	dbs  atomic.Int64
}

var (
	postgresOnce sync.Once
	postgresSrv  *PostgresServer
	postgresErr  error
)

// ErrNoPostgres: the machine has no PostgreSQL server binaries.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres): install Debian's postgresql package, or set REFBOT_POSTGRES_BIN to their folder")

// PostgreSQL returns the test binary's PostgreSQL server, starting it on
// first use; Run stops it at the end of the package's tests. A machine
// without PostgreSQL's binaries skips the test, saying so, except in CI
// (CI set), where every test must run; any other failure to start fails
// the test.
func PostgreSQL(t testing.TB) *PostgresServer {
	t.Helper()
	postgresOnce.Do(func() {
		postgresSrv, postgresErr = StartPostgreSQL(os.TempDir())
	})
	switch {
	case errors.Is(postgresErr, ErrNoPostgres) && os.Getenv("CI") == "":
		t.Skipf("PostgreSQL: %v", postgresErr)
	case postgresErr != nil:
		t.Fatalf("start PostgreSQL: %v", postgresErr)
	}
	return postgresSrv
}

// PostgresBinaries returns the folder of PostgreSQL's server programs:
// $REFBOT_POSTGRES_BIN if set, else the one of initdb on PATH, else the
// newest of Debian's /usr/lib/postgresql/*/bin.
func PostgresBinaries() (string, error) {
	if dir := os.Getenv("REFBOT_POSTGRES_BIN"); dir != "" {
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "initdb"))
		return err != nil
	})
	if len(dirs) == 0 {
		return "", ErrNoPostgres
	}
	version := func(d string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return n }
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	return dirs[len(dirs)-1], nil
}

// StartPostgreSQL initialises and starts a server in a new folder under
// parent and registers its stop with Run (or Stop). PostgreSQL refuses to
// run as root: as root, the server runs as the postgres user when the
// machine has one (Debian's package creates it), else as nobody.
func StartPostgreSQL(parent string) (*PostgresServer, error) {
	bin, err := PostgresBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "refbot-postgres-")
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{Dir: dir}
	data := filepath.Join(dir, "data")
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		// The server's user must reach its folder and own its data.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Mkdir(data, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "refbot", "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, "postgres.log"))
		if err != nil {
			return nil, err
		}
		// Durability is not what tests check: no fsync. The server dies
		// with the test binary, even one killed by go test's timeout.
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := s.waitReady(exited, 60*time.Second); err != nil {
			cmd.Process.Kill()
			logf.Close()
			log, _ := os.ReadFile(logf.Name())
			if attempt < 3 && strings.Contains(string(log), "already in use") {
				continue
			}
			return nil, fmt.Errorf("postgres did not start: %w\n%s", err, log)
		}
		atExit(func() {
			// SIGINT: the fast shutdown, which ends the sessions left open.
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
			logf.Close()
			os.RemoveAll(dir)
		})
		return s, nil
	}
}

// postgresUser is whom the server runs as: nil (this user) unless this is
// root.
func postgresUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

func (s *PostgresServer) waitReady(exited <-chan error, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// URL is the URL of database db on the server.
func (s *PostgresServer) URL(db string) string {
	return (&url.URL{Scheme: "postgres", User: url.User("refbot"), Host: fmt.Sprintf("127.0.0.1:%d", s.Port), Path: "/" + db,
		RawQuery: "sslmode=disable"}).String()
}

var dbUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database, named after the test, and
// returns its URL.
func (s *PostgresServer) NewDatabase(t testing.TB) string {
	t.Helper()
	name := strings.Trim(dbUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	u, err := s.CreateDatabase(context.Background(), fmt.Sprintf("t%d_%s", s.dbs.Add(1), name))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// CreateDatabase creates database name and returns its URL.
func (s *PostgresServer) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// postgresRun is set in the child process of RunOnPostgreSQL.
const postgresRun = "REFBOT_TEST_ON_POSTGRESQL"

// OnPostgreSQL reports whether this test binary is RunOnPostgreSQL's
// child, whose tests open their databases on PostgreSQL.
func OnPostgreSQL() bool { return os.Getenv(postgresRun) == "1" }

// Database returns the database a test opens its store on: sqlitePath,
// or in RunOnPostgreSQL's child, a new PostgreSQL database's URL.
func Database(t testing.TB, sqlitePath string) string {
	t.Helper()
	if OnPostgreSQL() {
		return PostgreSQL(t).NewDatabase(t)
	}
	return sqlitePath
}

// SQLiteOnly skips a test in RunOnPostgreSQL's child: what it checks is
// SQLite's alone (a file, an upgrade from a release before PostgreSQL).
func SQLiteOnly(t testing.TB) {
	t.Helper()
	if OnPostgreSQL() {
		t.Skip("SQLite only")
	}
}

// RunOnPostgreSQL runs the test binary's tests again in a child process
// whose stores are on PostgreSQL (see Database), the same tests as this
// run selected (-run), and fails if one fails there, with its output. A
// package's tests run on both databases by calling it from a test of its
// own; a machine without PostgreSQL skips it, saying why (see PostgreSQL).
func RunOnPostgreSQL(t *testing.T) {
	t.Helper()
	if OnPostgreSQL() {
		return
	}
	if _, err := PostgresBinaries(); err != nil && os.Getenv("CI") == "" {
		t.Skipf("PostgreSQL: %v", err)
	}
	args := []string{"-test.count=1", "-test.skip=^" + regexp.QuoteMeta(t.Name()) + "$"}
	for _, name := range []string{"test.run", "test.short", "test.v", "test.timeout"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), postgresRun+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests on PostgreSQL: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("the tests on PostgreSQL:\n%s", out)
	}
}
