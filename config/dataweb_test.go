package config

import "testing"

func TestDataWebURL(t *testing.T) {
	for _, tc := range []struct {
		repo DataRepo
		want string
	}{
		{DataRepo{URL: "https://github.com/o/data.git"}, "https://github.com/o/data"},
		{DataRepo{URL: "https://github.com/o/data"}, "https://github.com/o/data"},
		{DataRepo{URL: "https://git.example.org/o/data.git"}, ""},
		{DataRepo{URL: "https://git.example.org/o/data.git", WebURL: "https://git.example.org/o/data/"}, "https://git.example.org/o/data"},
	} {
		if got := tc.repo.DataWebURL(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.repo, got, tc.want)
		}
	}
}
