package workflow

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/refbot/refbot/bot/publish"
	"github.com/refbot/refbot/refdata"
)

// TestDiskFull: a publish that failed because refbot's disk is full before
// any push was tried ends the UPDATE with a reply saying so, in words and
// not as the error; one that failed once the push was tried stays an
// outage (its retry finds the push on the branch), and a give-up says the
// disk is full.
func TestDiskFull(t *testing.T) {
	full := fmt.Errorf("download plots/a.png: %w", &fs.PathError{Op: "write", Path: "/state/work/pr1/files/_default/plots/.refbot-tmp-a.png-0a1b", Err: syscall.ENOSPC})
	quota := fmt.Errorf("download plots/a.png: %w", &fs.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT})
	tests := []struct {
		name string
		res  *publish.Result
		err  error
		want bool
	}{
		{"before the build was opened", nil, full, true},
		{"while downloading", &publish.Result{}, full, true},
		{"over the quota", &publish.Result{}, quota, true},
		{"after the push was tried", &publish.Result{Update: &refdata.UpdateResult{}}, full, false},
		{"another error", &publish.Result{}, errors.New("connection refused"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fullBeforePush(tc.res, tc.err); got != tc.want {
				t.Errorf("fullBeforePush = %v, want %v", got, tc.want)
			}
		})
	}
	msg := userMessage("1001", full)
	if !strings.Contains(msg, "refbot's disk is full") || strings.Contains(msg, "no space left") || strings.Contains(msg, "/state/") {
		t.Errorf("userMessage = %q, want the disk named full without the error", msg)
	}
	if got := shortReason(full); got != "refbot's disk is full" {
		t.Errorf("shortReason = %q", got)
	}
	if got := plainReason(outage("push the data to the data repository", full)); !strings.HasSuffix(got, "because refbot's disk is full") {
		t.Errorf("plainReason = %q, want it to say the disk is full", got)
	}
}
