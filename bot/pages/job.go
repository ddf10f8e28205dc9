package pages

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/refbot/refbot/bot/queue"
	"github.com/refbot/refbot/bot/store"
)

// jobPage is the data of templates/job.html.
type jobPage struct {
	layout
	Job *queue.JobDetail
	// Next says when a job that waits runs again ("" when it does not
	// wait): a CI wait's "waiting for CI until …".
	Next     string
	Finished bool
	Lines    []logLine
	LastSeq  int
	LogError string
}

// logLine is one line of a job's log, on the page and in /jobs/{id}/log.
type logLine struct {
	Seq     int    `json:"seq"`
	Attempt int    `json:"attempt"`
	Time    string `json:"time"` // UTC, to the second
	Level   string `json:"level"`
	Message string `json:"message"`
}

// jobLogAnswer is the answer of GET /jobs/{id}/log.
type jobLogAnswer struct {
	Lines []logLine `json:"lines"`
	// Finished: the job has ended, no line will follow.
	Finished bool   `json:"finished"`
	State    string `json:"state"`
}

// finished says whether a job in River state has ended.
func finished(state string) bool {
	return slices.Contains([]string{"completed", "cancelled", "discarded"}, state)
}

// jobID reads the {id} of a job's path; ok is false for anything but a
// positive number.
func jobID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// readJob answers a job's page or log request up to the job: it writes
// the error itself and returns nil when there is no page to show.
func (p *Pages) readJob(ctx context.Context, w http.ResponseWriter, r *http.Request) *queue.JobDetail {
	if p.o.Store == nil || p.o.Jobs == nil {
		http.Error(w, "refbot's records are not set up", http.StatusServiceUnavailable)
		return nil
	}
	id, ok := jobID(r)
	if !ok {
		http.Error(w, "no such job", http.StatusNotFound)
		return nil
	}
	job, err := p.o.Jobs.JobByID(ctx, id)
	if err != nil {
		p.o.Logger.Warn("page: read job", zap.Int64("job", id), zap.Error(err))
		http.Error(w, "refbot's database could not be read", http.StatusServiceUnavailable)
		return nil
	}
	if job == nil {
		http.Error(w, "refbot has no job "+strconv.FormatInt(id, 10)+" (it may have been cleaned up)", http.StatusNotFound)
	}
	return job
}

// job serves GET /jobs/{id}: one job's state, attempts and log lines. A
// job that has not ended polls /jobs/{id}/log for new lines.
func (p *Pages) job(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	job := p.readJob(ctx, w, r)
	if job == nil {
		return
	}
	d := jobPage{layout: p.layout(r, job.PR, "job "+strconv.FormatInt(job.ID, 10)), Job: job, Finished: finished(job.State)}
	if !d.Finished && job.ScheduledAt.After(time.Now()) {
		what := "runs again at "
		if job.Kind == "ci_wait" {
			what = "waiting for CI until "
		}
		d.Next = what + job.ScheduledAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	lines, err := p.o.Store.JobLog(ctx, job.ID, 0)
	if err != nil {
		p.o.Logger.Warn("page: read job log", zap.Int64("job", job.ID), zap.Error(err))
		d.LogError = "the job's log could not be read just now"
	}
	d.Lines = logLines(lines)
	if len(lines) > 0 {
		d.LastSeq = lines[len(lines)-1].Seq
	}
	render(w, p.o.Logger, "job.html", d)
}

// jobLog serves GET /jobs/{id}/log?after=SEQ: the job's log lines after
// SEQ as JSON, and whether the job has ended.
func (p *Pages) jobLog(w http.ResponseWriter, r *http.Request) {
	after := 0
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, "after must be a line number", http.StatusBadRequest)
			return
		}
		after = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	job := p.readJob(ctx, w, r)
	if job == nil {
		return
	}
	lines, err := p.o.Store.JobLog(ctx, job.ID, after)
	if err != nil {
		p.o.Logger.Warn("page: read job log", zap.Int64("job", job.ID), zap.Error(err))
		http.Error(w, "the job's log could not be read just now", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	ans := jobLogAnswer{Lines: logLines(lines), Finished: finished(job.State), State: job.State}
	if ans.Lines == nil {
		ans.Lines = []logLine{}
	}
	if err := json.NewEncoder(w).Encode(ans); err != nil {
		p.o.Logger.Debug("page: write job log", zap.Error(err))
	}
}

func logLines(lines []store.JobLogLine) []logLine {
	var out []logLine
	for _, l := range lines {
		out = append(out, logLine{Seq: l.Seq, Attempt: l.Attempt, Time: l.At.UTC().Format("2006-01-02 15:04:05"),
			Level: l.Level, Message: l.Message})
	}
	return out
}
