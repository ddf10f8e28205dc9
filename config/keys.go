package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// walk goes through the parsed file along the yaml tags of Config, records
// where each key and value is, and reports every unknown key. go-yaml's
// strict mode does report unknown keys, but only the first one, and in Go's
// terms; a user fixing a file wants all of them, with a hint for typos.
func (s *source) walk(body ast.Node) Problems {
	s.keys = map[string]token.Position{}
	s.values = map[string]token.Position{}
	var problems Problems
	s.walkNode(body, reflect.TypeFor[Config](), "", &problems)
	return problems
}

// selfDecoding is the interface of the types that check their own YAML
// (Secret, Duration, ByteSize): walk does not look inside them.
var selfDecoding = reflect.TypeFor[yaml.NodeUnmarshalerContext]()

func (s *source) walkNode(n ast.Node, t reflect.Type, path string, problems *Problems) {
	n = unwrapNode(n)
	if n == nil {
		return
	}
	if reflect.PointerTo(t).Implements(selfDecoding) {
		// Its unmarshaler checks the value, but a problem found later
		// (a secret of a Secrets list that cannot be read) is still placed
		// at its entry.
		if seq, ok := n.(*ast.SequenceNode); ok {
			s.recordEntries(path, seq)
		}
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := n.(ast.MapNode)
		if !ok {
			return // a value of the wrong type: the decoder reports it
		}
		fields := yamlFields(t)
		for it := m.MapRange(); it.Next(); {
			if it.Key().IsMergeKey() {
				continue
			}
			name := keyName(it.Key())
			ft, known := fields[name]
			if !known {
				*problems = append(*problems, s.unknownKey(it.Key(), path, name, slices.Sorted(maps.Keys(fields))))
				continue
			}
			child := s.record(path, name, it.Key(), it.Value())
			s.walkNode(it.Value(), ft, child, problems)
		}
	case reflect.Map:
		m, ok := n.(ast.MapNode)
		if !ok {
			return
		}
		for it := m.MapRange(); it.Next(); {
			if it.Key().IsMergeKey() {
				continue
			}
			child := s.record(path, keyName(it.Key()), it.Key(), it.Value())
			s.walkNode(it.Value(), t.Elem(), child, problems)
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			return
		}
		s.recordEntries(path, seq)
		for i, v := range seq.Values {
			s.walkNode(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	}
}

// recordEntries notes where each entry of the list under path is, as
// path[i]: an entry has no key, so a problem with it is placed at its value.
func (s *source) recordEntries(path string, seq *ast.SequenceNode) {
	for i, v := range seq.Values {
		if tk := firstToken(unwrapNode(v)); tk != nil && tk.Position != nil {
			s.values[fmt.Sprintf("%s[%d]", path, i)] = *tk.Position
		}
	}
}

// firstToken returns the token where the value n starts, or nil. go-yaml's
// token of a block mapping is the ":" after its first key, which is not
// where a reader looks.
func firstToken(n ast.Node) *token.Token {
	switch m := n.(type) {
	case nil:
		return nil
	case *ast.MappingValueNode:
		return m.Key.GetToken()
	case *ast.MappingNode:
		if !m.IsFlowStyle && len(m.Values) > 0 {
			return m.Values[0].Key.GetToken()
		}
	}
	return n.GetToken()
}

// record notes where the key name under path and its value are, and returns
// the dotted path of the key.
func (s *source) record(path, name string, key, value ast.Node) string {
	child := joinKey(path, name)
	s.keys[child] = *key.GetToken().Position
	if v := unwrapNode(value); v != nil && v.GetToken() != nil {
		s.values[child] = *v.GetToken().Position
	}
	return child
}

func (s *source) unknownKey(key ast.Node, section, name string, known []string) *Problem {
	msg := fmt.Sprintf("unknown key %q", name)
	if section == "website" && slices.Contains(verbLimitKeys, name) {
		// The issue that asked for WEBSITE spoke of website.hold: one
		// engine decides every verb, so its limits are where the others' are.
		msg += fmt.Sprintf(": WEBSITE's limits are set as every verb's, write policy.verbs.WEBSITE.%s", name)
	} else if guess := closest(name, known); guess != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", guess)
	} else {
		msg += "; known keys are " + strings.Join(known, ", ")
	}
	pos := key.GetToken().Position
	return &Problem{File: s.file, Line: pos.Line, Column: pos.Column, Key: section, Msg: msg}
}

// yamlFields maps the yaml keys of struct type t to the types of its fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

// unwrapNode returns the node that holds the value of n: the content of an
// anchor or tag, and nil for an alias, which is checked where it is defined.
func unwrapNode(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			return nil
		default:
			return n
		}
	}
}

func keyName(key ast.MapKeyNode) string {
	if s, ok := key.(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	return key.String()
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// closest returns the known key nearest to name when it is near enough to be
// a typo of it, or "".
func closest(name string, known []string) string {
	best, bestDist := "", min(2, len(name)/2)+1
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// the edits (insert, delete, replace, swap two neighbours) that turn one
// into the other. Swaps count once because they are the commonest typo.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
