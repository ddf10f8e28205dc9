package refdata

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// TestUpdateBaseAgainst: a post-merge build of the base, made from base
// commit D0, is applied as a change against D0, so what was promoted onto
// the base since (PR B's data) stays.
func TestUpdateBaseAgainst(t *testing.T) {
	ctx := context.Background()
	seed := map[string]string{
		"README.md":  "reference data\n",
		"data/x.txt": "x0\n", "data/y.txt": "y0\n", "data/gone.txt": "g0\n",
		"data/linux/x.txt": "lx0\n", "data/linux/y.txt": "ly0\n",
		"data/macos/x.txt": "mx0\n", "data/macos/y.txt": "my0\n",
	}
	// rootOf is the build's whole data root: D0's data with changes (a
	// change to "" removes the file).
	rootOf := func(changes map[string]string) map[string]string {
		out := map[string]string{}
		for p, c := range seed {
			if rest, ok := strings.CutPrefix(p, "data/"); ok {
				out[rest] = c
			}
		}
		for p, c := range changes {
			if c == "" {
				delete(out, p)
			} else {
				out[p] = c
			}
		}
		return out
	}
	tests := []struct {
		name string
		// promoted is PR B's data, promoted onto the base after D0;
		// default: the root's x.txt changed to xB.
		promoted func(t *testing.T) []Part
		// parts is the build's output; against picks its base commit
		// (default D0); branch defaults to master.
		parts   func(t *testing.T) []Part
		against func(f *fixture, d0 string) plumbing.Hash
		branch  string
		dryRun  bool

		want         map[string]string // master's data afterwards (only these paths checked)
		wantChanges  []string
		wantNoChange bool
		wantConflict []string
		wantErr      error  // a sentinel the error wraps
		wantErrText  string // or a text it holds
	}{
		{
			name: "keeps what was promoted since and adds the build's change",
			parts: func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"y.txt": "y-build\n"}))}}
			},
			want:        map[string]string{"data/x.txt": "xB", "data/y.txt": "y-build", "data/gone.txt": "g0", "README.md": "reference data"},
			wantChanges: []string{"modified data/y.txt"},
		},
		{
			name: "a file changed differently on both sides is a conflict",
			parts: func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"x.txt": "x-build\n", "y.txt": "y-build\n"}))}}
			},
			wantConflict: []string{"data/x.txt"},
		},
		{
			name: "the same change on both sides is no conflict",
			parts: func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"x.txt": "xB\n", "y.txt": "y-build\n"}))}}
			},
			want:        map[string]string{"data/x.txt": "xB", "data/y.txt": "y-build"},
			wantChanges: []string{"modified data/y.txt"},
		},
		{
			name:     "a file removed on the base since stays removed",
			promoted: func(t *testing.T) []Part { return []Part{{Dir: dataDir(t, rootOf(map[string]string{"gone.txt": ""}))}} },
			parts: func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"y.txt": "y-build\n"}))}}
			},
			want:        map[string]string{"data/gone.txt": "", "data/x.txt": "x0", "data/y.txt": "y-build"},
			wantChanges: []string{"modified data/y.txt"},
		},
		{
			name:         "nothing new against D0",
			parts:        func(t *testing.T) []Part { return []Part{{Dir: dataDir(t, rootOf(nil))}} },
			want:         map[string]string{"data/x.txt": "xB", "data/y.txt": "y0"},
			wantNoChange: true,
		},
		{
			name:     "variants",
			promoted: promotedLinux,
			parts: func(t *testing.T) []Part {
				return []Part{
					{Variant: "linux", Dir: dataDir(t, map[string]string{"x.txt": "lx0\n", "y.txt": "ly-build\n"})},
					{Variant: "macos", Dir: dataDir(t, map[string]string{"x.txt": "mx0\n", "y.txt": "my-build\n"})},
				}
			},
			want: map[string]string{"data/linux/x.txt": "lxB", "data/linux/y.txt": "ly-build", "data/macos/x.txt": "mx0",
				"data/macos/y.txt": "my-build", "data/x.txt": "x0"},
			wantChanges: []string{"modified data/linux/y.txt", "modified data/macos/y.txt"},
		},
		{
			name:     "variants in conflict",
			promoted: promotedLinux,
			parts: func(t *testing.T) []Part {
				return []Part{{Variant: "linux", Dir: dataDir(t, map[string]string{"x.txt": "lx-build\n", "y.txt": "ly0\n"})}}
			},
			wantConflict: []string{"data/linux/x.txt"},
		},
		{
			name: "a dry run pushes nothing",
			parts: func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"y.txt": "y-build\n"}))}}
			},
			dryRun:      true,
			want:        map[string]string{"data/x.txt": "xB", "data/y.txt": "y0"},
			wantChanges: []string{"modified data/y.txt"},
		},
		{
			name: "against the base's tip, the build is the new data",
			parts: func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"y.txt": "y-build\n"}))}}
			},
			against:     func(f *fixture, _ string) plumbing.Hash { return plumbing.NewHash(f.git(t, "rev-parse", "master")) },
			want:        map[string]string{"data/x.txt": "x0", "data/y.txt": "y-build"},
			wantChanges: []string{"modified data/x.txt", "modified data/y.txt"},
		},
		{
			name:    "against a commit of another branch",
			parts:   func(t *testing.T) []Part { return []Part{{Dir: dataDir(t, rootOf(nil))}} },
			against: func(f *fixture, _ string) plumbing.Hash { return plumbing.NewHash(f.git(t, "rev-parse", "other")) },
			wantErr: ErrNotOnBase,
		},
		{
			name:    "against a commit nobody has",
			parts:   func(t *testing.T) []Part { return []Part{{Dir: dataDir(t, rootOf(nil))}} },
			against: func(*fixture, string) plumbing.Hash { return plumbing.NewHash(strings.Repeat("12", 20)) },
			wantErr: ErrNotOnBase,
		},
		{
			name:        "against for a PR branch",
			parts:       func(t *testing.T) []Part { return []Part{{Dir: dataDir(t, rootOf(nil))}} },
			branch:      "PR3",
			wantErrText: "Against is for an update of the base branch master only",
		},
	}
	for _, tc := range tests {
		if tc.promoted == nil {
			tc.promoted = func(t *testing.T) []Part {
				return []Part{{Dir: dataDir(t, rootOf(map[string]string{"x.txt": "xB\n"}))}}
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, seed)
			d0 := f.git(t, "rev-parse", "master")
			f.git(t, "branch", "-q", "other", f.commitOnServer(t, "master", map[string]string{"data/x.txt": "elsewhere\n"}))
			f.git(t, "update-ref", "refs/heads/master", d0) // "other" is not on master's history
			if _, err := f.repo.Update(ctx, UpdateRequest{Branch: "PR2", Parts: tc.promoted(t)}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.repo.Promote(ctx, "PR2", false); err != nil {
				t.Fatal(err)
			}
			d1 := f.git(t, "rev-parse", "master")

			against := plumbing.NewHash(d0)
			if tc.against != nil {
				against = tc.against(f, d0)
			}
			branch := tc.branch
			if branch == "" {
				branch = "master"
			}
			res, err := f.repo.Update(ctx, UpdateRequest{Branch: branch, Against: against, Parts: tc.parts(t), DryRun: tc.dryRun, Subject: "post-merge build"})
			var conflict *ConflictError
			switch {
			case tc.wantConflict != nil:
				if !errors.As(err, &conflict) {
					t.Fatalf("err = %v, want a *ConflictError", err)
				}
				if diff := cmp.Diff(tc.wantConflict, conflict.Files); diff != "" {
					t.Errorf("conflicting files (-want +got):\n%s", diff)
				}
			case tc.wantErrText != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("err = %v, want %q", err, tc.wantErrText)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if err != nil {
				if got := f.git(t, "rev-parse", "master"); got != d1 {
					t.Errorf("master moved to %s on a refusal", got)
				}
				return
			}
			if diff := cmp.Diff(tc.wantChanges, changes(res.Changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if res.NoChange != tc.wantNoChange {
				t.Errorf("NoChange = %v, want %v", res.NoChange, tc.wantNoChange)
			}
			tip := f.git(t, "rev-parse", "master")
			switch {
			case tc.dryRun || tc.wantNoChange:
				if tip != d1 || res.Pushed {
					t.Errorf("master = %s (pushed %v), want it left at %s", tip, res.Pushed, d1)
				}
			default:
				if tip != res.Commit.String() || f.git(t, "rev-parse", "master^") != d1 {
					t.Errorf("master = %s with parent %s; want the result %s on top of %s", tip, f.git(t, "rev-parse", "master^"), res.Commit, d1)
				}
				f.fsck(t)
			}
			got := f.files(t, "master")
			for p, want := range tc.want {
				if got[p] != want {
					t.Errorf("master:%s = %q, want %q", p, got[p], want)
				}
			}
		})
	}
}

// promotedLinux is PR B's data when it changes the linux variant's x.txt.
func promotedLinux(t *testing.T) []Part {
	return []Part{{Variant: "linux", Dir: dataDir(t, map[string]string{"x.txt": "lxB\n", "y.txt": "ly0\n"})}}
}
