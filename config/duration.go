package config

import (
	"context"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written in YAML as a string that
// time.ParseDuration reads: "90s", "10m", "1h30m".
type Duration time.Duration

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a string that UnmarshalYAML reads back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string. A bare number is refused: its unit
// would be a guess.
func (d *Duration) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	switch n := unwrapNode(node).(type) {
	case *ast.StringNode:
		v, err := time.ParseDuration(n.Value)
		if err != nil {
			return badValue(ctx, node, nil, "%q is not a duration; write it like \"90s\", \"10m\" or \"1h30m\"", n.Value)
		}
		*d = Duration(v)
		return nil
	case *ast.IntegerNode, *ast.FloatNode:
		return badValue(ctx, node, nil, "%s has no unit; write a duration like \"90s\", \"10m\" or \"1h30m\"", n.GetToken().Value)
	case nil, *ast.NullNode:
		return nil
	}
	return badValue(ctx, node, nil, "want a duration like \"10m\"")
}
