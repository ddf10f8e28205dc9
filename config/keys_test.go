package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClosest(t *testing.T) {
	known := []string{"bucket", "prefix", "region", "endpoint", "env", "file"}
	tests := []struct {
		name string
		key  string
		want string
	}{
		{name: "swapped letters", key: "bukcet", want: "bucket"},
		{name: "missing letter", key: "regon", want: "region"},
		{name: "short key swapped", key: "evn", want: "env"},
		{name: "nothing close", key: "colour", want: ""},
		{name: "short key far away", key: "id", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, closest(tt.key, known)); diff != "" {
				t.Errorf("closest(%q) mismatch (-want +got):\n%s", tt.key, diff)
			}
		})
	}
}
