package refdata

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// pruneNow is the clock of the prune tests; hour(h) is h hours before it,
// as a ref's time stamp.
var pruneNow = time.Date(2031, 6, 1, 12, 0, 0, 0, time.UTC)

func hour(h int) string {
	return fmt.Sprint(pruneNow.Add(-time.Duration(h) * time.Hour).UnixNano())
}

func TestPruneUpdates(t *testing.T) {
	tip := plumbing.NewHash(strings.Repeat("ab", 20))
	// The remote: a live PR9 with four backups (and an archive of an
	// earlier life), master with three backups, PR1..PR4 deleted 10, 20,
	// 30 and 40 hours ago (PR1 the newest) with a backup or two each, PR5
	// deleted by hand 50 hours ago (backups, no archive), and refs refbot
	// did not name.
	refs := []string{
		"refs/heads/master", "refs/heads/PR9",
		"refs/refbot/backup/PR9/" + hour(1), "refs/refbot/backup/PR9/" + hour(2), "refs/refbot/backup/PR9/" + hour(3), "refs/refbot/backup/PR9/" + hour(4),
		"refs/refbot/archive/PR9/" + hour(100),
		"refs/refbot/backup/master/" + hour(5), "refs/refbot/backup/master/" + hour(6), "refs/refbot/backup/master/" + hour(7),
		"refs/refbot/archive/PR1/" + hour(10), "refs/refbot/backup/PR1/" + hour(11), "refs/refbot/backup/PR1/" + hour(12), "refs/refbot/backup/PR1/" + hour(13),
		"refs/refbot/archive/PR2/" + hour(20), "refs/refbot/backup/PR2/" + hour(21),
		"refs/refbot/archive/PR3/" + hour(30),
		"refs/refbot/archive/PR4/" + hour(40), "refs/refbot/backup/PR4/" + hour(41),
		"refs/refbot/backup/PR5/" + hour(50),
		"refs/refbot/archive/odd", "refs/refbot/backup/PR6/yesterday", "refs/refbot/doctor-0a1b2c",
	}
	remote := remoteState{}
	for _, r := range refs {
		remote[plumbing.ReferenceName(r)] = tip
	}
	tests := []struct {
		name string
		ret  retention
		want []string // refs deleted
	}{
		{
			name: "no archive limit: only backups beyond keep",
			ret:  retention{keepBackups: 2},
			want: []string{
				"refs/refbot/backup/PR1/" + hour(13),
				"refs/refbot/backup/PR9/" + hour(3), "refs/refbot/backup/PR9/" + hour(4),
				"refs/refbot/backup/master/" + hour(7),
			},
		},
		{
			name: "newest two archived branches",
			ret:  retention{keepBackups: 3, keepArchives: 2},
			want: []string{
				"refs/refbot/archive/PR3/" + hour(30),
				"refs/refbot/archive/PR4/" + hour(40), "refs/refbot/backup/PR4/" + hour(41),
				"refs/refbot/backup/PR5/" + hour(50),
				"refs/refbot/backup/PR9/" + hour(4),
			},
		},
		{
			name: "archived within a day",
			ret:  retention{keepBackups: 5, archivesFor: 24 * time.Hour},
			want: []string{
				"refs/refbot/archive/PR3/" + hour(30),
				"refs/refbot/archive/PR4/" + hour(40), "refs/refbot/backup/PR4/" + hour(41),
				"refs/refbot/backup/PR5/" + hour(50),
			},
		},
		{
			name: "either limit removes",
			ret:  retention{keepBackups: 5, keepArchives: 3, archivesFor: 25 * time.Hour},
			want: []string{
				"refs/refbot/archive/PR3/" + hour(30),
				"refs/refbot/archive/PR4/" + hour(40), "refs/refbot/backup/PR4/" + hour(41),
				"refs/refbot/backup/PR5/" + hour(50),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ret.now = pruneNow
			var got []string
			for _, u := range pruneUpdates(remote, tt.ret) {
				if u.Old != tip || !u.New.IsZero() {
					t.Errorf("%s: old %s new %s, want a deletion leased on %s", u.Name, u.Old, u.New, tip)
				}
				got = append(got, u.Name.String())
			}
			slices.Sort(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
		})
	}
}

// serverRefs lists the refs under refs/refbot/ on the server.
func (f *fixture) serverRefs(t *testing.T) []string {
	t.Helper()
	out := strings.Fields(f.git(t, "for-each-ref", "--format=%(refname)", "refs/refbot/"))
	slices.Sort(out)
	return out
}

// TestPruneRefs: against the real server, PruneRefs deletes the backup and
// archive refs beyond retention (a dry run only lists them), and the cache
// forgets the branches the server no longer has.
func TestPruneRefs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	master := f.git(t, "rev-parse", "master")
	var all []string
	for i := 1; i <= 6; i++ {
		all = append(all, fmt.Sprintf("refs/refbot/archive/PR%d/%s", i, hour(10*i)), fmt.Sprintf("refs/refbot/backup/PR%d/%s", i, hour(10*i+1)))
	}
	all = append(all, "refs/refbot/backup/master/"+hour(1), "refs/refbot/backup/master/"+hour(2), "refs/refbot/backup/master/"+hour(3),
		"refs/refbot/archive/by-hand")
	for _, r := range all {
		f.git(t, "update-ref", r, master)
	}
	slices.Sort(all)
	r := f.openWith(t, Options{KeepBackups: 2, KeepArchives: 3, KeepArchivesFor: 45 * time.Hour, Now: func() time.Time { return pruneNow }})
	// The cache has copies of PR7, which goes by hand, and of PR8, which stays.
	for _, b := range []string{"PR7", "PR8"} {
		f.git(t, "update-ref", "refs/heads/"+b, master)
		f.commitOnServer(t, b, map[string]string{"data/" + b + ".txt": b + "\n"})
		if _, err := r.Branch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	pr7 := f.git(t, "rev-parse", "PR7")
	f.git(t, "update-ref", "-d", "refs/heads/PR7")
	if !slices.Contains(shallowList(t, r), pr7) {
		t.Fatalf("the cache's shallow commits %v lack PR7's tip %s", shallowList(t, r), pr7)
	}

	want := []string{ // PR4 is the fourth newest; PR5 and PR6 are older than 45 h too
		"refs/refbot/archive/PR4/" + hour(40), "refs/refbot/backup/PR4/" + hour(41),
		"refs/refbot/archive/PR5/" + hour(50), "refs/refbot/backup/PR5/" + hour(51),
		"refs/refbot/archive/PR6/" + hour(60), "refs/refbot/backup/PR6/" + hour(61),
		"refs/refbot/backup/master/" + hour(3),
	}
	slices.Sort(want)
	kept := len(all) - len(want) - 1 // refs/refbot/archive/by-hand is none of refbot's
	dry, err := r.PruneRefs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&PruneResult{Deleted: want, Kept: kept, Forgotten: []string{}}, dry); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all, f.serverRefs(t)); diff != "" {
		t.Errorf("a dry run changed the server's refs (-want +got):\n%s", diff)
	}

	res, err := r.PruneRefs(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&PruneResult{Deleted: want, Kept: kept, Forgotten: []string{"PR7"}}, res); diff != "" {
		t.Errorf("prune (-want +got):\n%s", diff)
	}
	var left []string
	for _, r := range all {
		if !slices.Contains(want, r) {
			left = append(left, r)
		}
	}
	if diff := cmp.Diff(left, f.serverRefs(t)); diff != "" {
		t.Errorf("the server's refs after pruning (-want +got):\n%s", diff)
	}
	if slices.Contains(shallowList(t, r), pr7) {
		t.Errorf("the cache still lists gone PR7's tip as shallow: %v", shallowList(t, r))
	}
	if info, err := r.CachedBranch(ctx, "PR7"); err != nil || info.Exists {
		t.Errorf("the cache's copy of PR7: %+v, %v; want none", info, err)
	}
	if info, err := r.CachedBranch(ctx, "PR8"); err != nil || !info.Exists {
		t.Errorf("the cache's copy of PR8: %+v, %v; want it kept", info, err)
	}

	// Nothing more to do: a second prune deletes nothing.
	again, err := r.PruneRefs(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Deleted) != 0 {
		t.Errorf("a second prune deleted %v", again.Deleted)
	}
	f.fsck(t)
}

// TestDeleteBranchPrunesArchives: each deletion archives the branch and,
// in the same push, drops the archives and backups beyond KeepArchives.
func TestDeleteBranchPrunesArchives(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := pruneNow
	r := f.openWith(t, Options{KeepBackups: 1, KeepArchives: 2, Now: func() time.Time { return now }})
	for i := 1; i <= 4; i++ {
		b := PRBranch(i)
		for v := range 2 { // two updates: one backup
			if _, err := r.Update(ctx, UpdateRequest{Branch: b, Parts: []Part{{Dir: dataDir(t, map[string]string{"a.txt": fmt.Sprintf("%s v%d\n", b, v)})}}}); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Minute)
		}
	}
	for i := 1; i <= 4; i++ {
		if _, err := r.DeleteBranch(ctx, PRBranch(i)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
	}
	var got []string
	for _, ref := range f.serverRefs(t) {
		kind, rest, _ := strings.Cut(strings.TrimPrefix(ref, "refs/refbot/"), "/")
		branch, _, _ := strings.Cut(rest, "/")
		got = append(got, kind+" "+branch)
	}
	if diff := cmp.Diff([]string{"archive PR3", "archive PR4", "backup PR3", "backup PR4"}, got); diff != "" {
		t.Errorf("refs left (-want +got):\n%s", diff)
	}
	f.fsck(t)
}
