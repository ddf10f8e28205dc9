package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ByteSize
		wantErr string
	}{
		{name: "bytes", in: "1048576", want: MiB},
		{name: "binary unit", in: "512MiB", want: 512 * MiB},
		{name: "short binary unit", in: "10Gi", want: 10 * GiB},
		{name: "decimal unit", in: "500MB", want: 500_000_000},
		{name: "unit in any case", in: "2kib", want: 2 * KiB},
		{name: "space before unit", in: "10 GiB", want: 10 * GiB},
		{name: "B", in: "7B", want: 7},
		{name: "zero", in: "0", want: 0},
		{name: "unknown unit", in: "5XB", wantErr: `"5XB" has an unknown unit; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB`},
		{name: "no number", in: "MiB", wantErr: `"MiB" is not a size; write a whole number of bytes, or one with a unit like "512MiB" or "10GB"`},
		{name: "fraction", in: "1.5GiB", wantErr: `"1.5GiB" has an unknown unit; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB`},
		{name: "negative", in: "-1", wantErr: `"-1" is not a size; write a whole number of bytes, or one with a unit like "512MiB" or "10GB"`},
		{name: "too large", in: "9000000TiB", wantErr: `"9000000TiB" is too large`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("ParseByteSize(%q) error mismatch (-want +got):\n%s", tt.in, diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseByteSize(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		name string
		size ByteSize
		want string
	}{
		{name: "zero", size: 0, want: "0B"},
		{name: "bytes", size: 1000, want: "1000B"},
		{name: "KiB", size: 4 * KiB, want: "4KiB"},
		{name: "MiB", size: 512 * MiB, want: "512MiB"},
		{name: "GiB", size: 10 * GiB, want: "10GiB"},
		{name: "not a whole GiB", size: 1536 * MiB, want: "1536MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.size.String()); diff != "" {
				t.Errorf("String() mismatch (-want +got):\n%s", diff)
			}
			back, err := ParseByteSize(tt.want)
			if err != nil || back != tt.size {
				t.Errorf("ParseByteSize(%q) = %v, %v; want %d", tt.want, back, err, tt.size)
			}
		})
	}
}
