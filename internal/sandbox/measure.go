package sandbox

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/refbot/refbot/internal/fakegithub"
)

// What the load benchmarks (internal/cmd/benchburst, benchlarge, soak)
// measure of a running `refbot serve` and what it left in the sandbox.

// Memory is a process's resident memory, from /proc (Linux): now, and the
// most it has held since it started (VmHWM).
type Memory struct {
	RSS, Peak int64 // bytes
}

// ProcessMemory reads the memory of process pid.
func ProcessMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var to *int64
		switch key {
		case "VmRSS":
			to = &m.RSS
		case "VmHWM":
			to = &m.Peak
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		*to = kb << 10
	}
	return m, sc.Err()
}

// Memory reads refbot's memory.
func (r *Refbot) Memory() (Memory, error) { return ProcessMemory(r.Cmd.Process.Pid) }

// OpenFiles counts refbot's open file descriptors.
func (r *Refbot) OpenFiles() int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.Cmd.Process.Pid))
	return len(ents)
}

// StateDir is refbot serve's state folder in the sandbox.
func (s *Sandbox) StateDir() string { return filepath.Join(s.Work, "state") }

// database opens refbot's SQLite database for reading, beside a running
// refbot serve.
func (s *Sandbox) database() (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+filepath.Join(s.StateDir(), "refbot.db")+"?mode=ro&_pragma=busy_timeout(10000)")
}

// TableRows counts the rows of each of refbot's tables and River's jobs.
func (s *Sandbox) TableRows(ctx context.Context) (map[string]int64, error) {
	db, err := s.database()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND (name LIKE 'refbot\_%' ESCAPE '\' OR name = 'river_job') ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+n+`"`).Scan(&c); err != nil {
			return nil, fmt.Errorf("count %s: %w", n, err)
		}
		out[n] = c
	}
	return out, nil
}

// JobStates counts River's jobs by state.
func (s *Sandbox) JobStates(ctx context.Context) (map[string]int, error) {
	db, err := s.database()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT state, count(*) FROM river_job GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Unfinished is the number of jobs in JobStates that have not ended.
func Unfinished(states map[string]int) int {
	n := 0
	for st, c := range states {
		switch st {
		case "completed", "cancelled", "discarded":
		default:
			n += c
		}
	}
	return n
}

// DeliveryIDs returns the ids of the deliveries refbot recorded.
func (s *Sandbox) DeliveryIDs(ctx context.Context) (map[string]bool, error) {
	db, err := s.database()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT id FROM refbot_delivery`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// Folder is what a folder holds.
type Folder struct {
	Files int
	Bytes int64
}

// FolderSize walks dir (a missing one holds nothing).
func FolderSize(dir string) (Folder, error) {
	var f Folder
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			f.Files++
			f.Bytes += info.Size()
		}
		return nil
	})
	return f, err
}

// GitCache is what refbot's local cache of the data repo holds.
type GitCache struct {
	Bytes   int64 // on disk
	Refs    int
	Objects int64 // loose and packed
	Packs   int
}

// DataRepoCache measures refbot serve's local cache of the data repo
// (<state>/data-repo) with git itself.
func (s *Sandbox) DataRepoCache(ctx context.Context) (GitCache, error) {
	dir := filepath.Join(s.StateDir(), "data-repo")
	size, err := FolderSize(dir)
	if err != nil {
		return GitCache{}, err
	}
	c := GitCache{Bytes: size.Bytes}
	out, err := exec.CommandContext(ctx, "git", "--git-dir", dir, "count-objects", "-v").Output()
	if err != nil {
		return c, fmt.Errorf("git count-objects in %s: %w", dir, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		key, val, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(val, 10, 64)
		switch key {
		case "count", "in-pack":
			c.Objects += n
		case "packs":
			c.Packs = int(n)
		}
	}
	refs, err := exec.CommandContext(ctx, "git", "--git-dir", dir, "for-each-ref", "--format=x").Output()
	if err != nil {
		return c, fmt.Errorf("git for-each-ref in %s: %w", dir, err)
	}
	c.Refs = strings.Count(string(refs), "\n")
	return c, nil
}

// Writes are the requests that change something at GitHub (REST calls
// other than GET and HEAD; GraphQL requests are counted apart, since
// refbot's are queries) among reqs, with the busiest second and minute.
type Writes struct {
	Total, GraphQL  int
	MaxPerSecond    int // the most writes within any 1 s window
	MaxPerMinute    int // the most writes within any 60 s window
	MinGap          time.Duration
	First, Last     time.Time
	ContentCreating int // POSTs (comments, statuses, check runs)
}

// CountWrites finds the writes among reqs (fakegithub.Server.Requests).
func CountWrites(reqs []fakegithub.Request) Writes {
	var w Writes
	var at []time.Time
	for _, r := range reqs {
		if r.Route == "graphql" {
			w.GraphQL++
			continue
		}
		if r.Method == "GET" || r.Method == "HEAD" {
			continue
		}
		if r.Method == "POST" {
			w.ContentCreating++
		}
		at = append(at, r.Time)
	}
	slices.SortFunc(at, time.Time.Compare)
	w.Total = len(at)
	if len(at) == 0 {
		return w
	}
	w.First, w.Last = at[0], at[len(at)-1]
	w.MaxPerSecond, w.MaxPerMinute = maxWithin(at, time.Second), maxWithin(at, time.Minute)
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); i == 1 || gap < w.MinGap {
			w.MinGap = gap
		}
	}
	return w
}

// maxWithin is the most of the times at (in order) within any window of
// length d (half-open: [t, t+d)).
func maxWithin(at []time.Time, d time.Duration) int {
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= d {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// CommandJobs counts the comment jobs (one per comment holding commands)
// and the distinct comments among them: a comment done twice would show
// as more jobs than comments.
func (s *Sandbox) CommandJobs(ctx context.Context) (jobs, comments int, err error) {
	db, err := s.database()
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT json_extract(args, '$.comment_id'))
		FROM river_job WHERE kind = 'comment'`).Scan(&jobs, &comments)
	return jobs, comments, err
}

// MachineLoad says how many cores the machine has and its load average
// (1, 5 and 15 minutes), to print beside a benchmark's figures.
func MachineLoad() string {
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%d cores, load average %s", runtime.NumCPU(), load)
}

// UpdateOutcomes counts refbot's UPDATE records by step and outcome
// ("done/success"): what became of the UPDATEs a benchmark asked for.
func (s *Sandbox) UpdateOutcomes(ctx context.Context) (map[string]int, error) {
	db, err := s.database()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT step, outcome, count(*) FROM refbot_update GROUP BY step, outcome`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var step, outcome string
		var n int
		if err := rows.Scan(&step, &outcome, &n); err != nil {
			return nil, err
		}
		out[step+"/"+outcome] = n
	}
	return out, rows.Err()
}

// UploadBuild runs `refbot upload` (bin) for build of pull request pr at
// head with files (path → content) as its outputs, as CI does.
func (s *Sandbox) UploadBuild(ctx context.Context, bin string, pr int, build int64, head string, files map[string]string) error {
	_, err := s.upload(ctx, bin, pr, build, head, files)
	return err
}

// JobsEnded says whether every job of pull request pr of kind has ended,
// and whether there is one.
func (s *Sandbox) JobsEnded(ctx context.Context, pr int, kind string) (ended, any bool, err error) {
	db, err := s.database()
	if err != nil {
		return false, false, err
	}
	defer db.Close()
	var all, open int
	err = db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE state NOT IN ('completed', 'cancelled', 'discarded'))
		FROM river_job WHERE kind = $1 AND json_extract(args, '$.pr') = $2`, kind, pr).Scan(&all, &open)
	return open == 0, all > 0, err
}
