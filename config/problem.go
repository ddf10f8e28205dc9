package config

import (
	"context"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// A Problem is one thing wrong with a configuration: where it is, which key,
// and what to do about it. Its message never contains a secret.
type Problem struct {
	File   string // the file as given to Load; empty for a Config built in code
	Line   int    // 1-based; 0 when the problem has no place in the file (a missing key)
	Column int    // 1-based; 0 when Line is 0
	Key    string // dotted path such as "s3.bucket"; empty for the whole file
	Msg    string
}

// Error renders the problem as "file:line:col: key: message", leaving out
// the parts that are unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a configuration, in file order where
// that is known. Load and Validate return it as their error so that a user
// sees everything to fix at once; use errors.As to get at the list.
type Problems []*Problem

// Error renders one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single *Problem in the list.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// source remembers where a Config came from, so that Validate can point at
// the line of a bad value.
type source struct {
	file   string
	keys   map[string]token.Position // dotted key path → position of the key
	values map[string]token.Position // dotted key path → position of its value
}

// at returns a problem for key, placed at the key's line when it is known,
// or, for an entry of a list ("policy.allowed_users[0]"), which has no key
// of its own, at the entry.
func (s *source) at(key, format string, args ...any) *Problem {
	p := &Problem{Key: key, Msg: fmt.Sprintf(format, args...)}
	if s == nil {
		return p
	}
	p.File = s.file
	pos, ok := s.keys[key]
	if !ok {
		pos, ok = s.values[key]
	}
	if ok {
		p.Line, p.Column = pos.Line, pos.Column
	}
	return p
}

// decodeState is what the YAML unmarshalers of this package share while Load
// decodes one file. It travels in the decoder's context.
type decodeState struct {
	file string
	dir  string // absolute folder of the file: relative secret files are read from here
	// values holds the problems of values that could not be decoded. They are
	// collected rather than returned so that one run reports all of them:
	// go-yaml stops at the first error an unmarshaler returns.
	values Problems
}

type decodeStateKey struct{}

func withDecodeState(ctx context.Context, st *decodeState) context.Context {
	return context.WithValue(ctx, decodeStateKey{}, st)
}

func decodeStateFrom(ctx context.Context) *decodeState {
	st, _ := ctx.Value(decodeStateKey{}).(*decodeState)
	return st
}

// badValue reports that the value at node (or, when tk is not nil, at tk)
// cannot be used. Under Load the problem is collected and nil returned, so
// decoding goes on; otherwise it is returned as the error.
func badValue(ctx context.Context, node ast.Node, tk *token.Token, format string, args ...any) error {
	if tk == nil {
		tk = firstToken(node)
	}
	p := &Problem{Key: nodeKey(node), Msg: fmt.Sprintf(format, args...)}
	if tk != nil && tk.Position != nil {
		p.Line, p.Column = tk.Position.Line, tk.Position.Column
	}
	st := decodeStateFrom(ctx)
	if st == nil {
		return p
	}
	p.File = st.file
	st.values = append(st.values, p)
	return nil
}

// nodeKey turns go-yaml's path of a node ("$.github.token") into the dotted
// key used in messages ("github.token").
func nodeKey(n ast.Node) string {
	return strings.TrimPrefix(strings.TrimPrefix(n.GetPath(), "$"), ".")
}

// has says whether the file sets key; false for a Config built in code.
func (s *source) has(key string) bool {
	if s == nil {
		return false
	}
	_, ok := s.keys[key]
	return ok
}
