package config

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// ByteSize is a number of bytes, written in YAML as an integer or as a
// string with a unit: "512MiB", "10GiB", "500MB". Units are decimal (kB, MB,
// GB, TB) or binary (KiB, MiB, GiB, TiB), matched without regard to case.
type ByteSize int64

// Byte sizes.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var byteUnits = map[string]ByteSize{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": KiB, "kib": KiB, "mi": MiB, "mib": MiB, "gi": GiB, "gib": GiB, "ti": TiB, "tib": TiB,
}

// ParseByteSize reads a size such as "512MiB", "10 GB" or "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	digits := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if digits == -1 {
		digits = len(s)
	}
	if digits == 0 {
		return 0, fmt.Errorf("%q is not a size; write a whole number of bytes, or one with a unit like \"512MiB\" or \"10GB\"", s)
	}
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(s[digits:]))]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB", s)
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n) * unit, nil
}

// String writes b with the largest binary unit that divides it exactly:
// "512MiB", "10GiB", "1000B".
func (b ByteSize) String() string {
	for _, u := range []struct {
		size ByteSize
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if b != 0 && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(b))
}

// MarshalYAML writes b as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML reads an integer number of bytes or a size with a unit.
func (b *ByteSize) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	switch n := unwrapNode(node).(type) {
	case *ast.IntegerNode:
		v, err := ParseByteSize(n.GetToken().Value)
		if err != nil {
			return badValue(ctx, node, nil, "%s must be a whole number of bytes, at least 0", n.GetToken().Value)
		}
		*b = v
		return nil
	case *ast.StringNode:
		v, err := ParseByteSize(n.Value)
		if err != nil {
			return badValue(ctx, node, nil, "%v", err)
		}
		*b = v
		return nil
	case nil, *ast.NullNode:
		return nil
	}
	return badValue(ctx, node, nil, "want a size like \"512MiB\" or a number of bytes")
}
