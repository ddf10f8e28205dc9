package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// ErrSecretNotSet is returned by Resolve for a Secret that the configuration
// does not set.
var ErrSecretNotSet = errors.New("secret not set")

// A Secret says where a secret value is: in an environment variable or in a
// file. It never holds the value itself, so a Config can be printed, logged
// or marshalled without leaking anything; Resolve reads the value when it is
// needed. In YAML a Secret is written {env: NAME} or {file: PATH}; an inline
// string is refused, so that no secret ends up in a config file.
type Secret struct {
	Env  string // name of an environment variable
	File string // path of a file; a relative path in YAML is relative to the config file
}

// IsSet reports whether the configuration gives this secret.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" }

// String describes where the secret is, never what it is.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	}
	return "unset"
}

// MarshalYAML writes the reference back ({env: NAME} or {file: PATH}),
// never the value.
func (s Secret) MarshalYAML() (any, error) {
	switch {
	case s.Env != "":
		return map[string]string{"env": s.Env}, nil
	case s.File != "":
		return map[string]string{"file": s.File}, nil
	}
	return nil, nil
}

// Resolve reads the secret. Errors name the variable or the file, never the
// value. A file's trailing newline is dropped; an empty value is an error,
// since no secret refbot uses may be empty.
func (s Secret) Resolve() (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", envShown(s.Env))
		}
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty", envShown(s.Env))
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err) // the *PathError names the file
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.File)
		}
		return v, nil
	}
	return "", ErrSecretNotSet
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// tokenPrefixes start real credentials, which are also valid variable names.
// Someone who writes {env: ghp_...} has pasted the token itself; refbot must
// not go on to name it in "variable ... is not set".
var tokenPrefixes = []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA", "ASIA"}

// conventionalEnv is how variables are named: upper case, digits and _.
var conventionalEnv = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// envShown is how an error names the variable name: as it is when it is
// named as variables are, else not at all. A name in mixed case may be a
// secret pasted where its variable's name belongs (a key's line, a token
// without a known prefix), and errors reach logs and terminals.
func envShown(name string) string {
	if conventionalEnv.MatchString(name) {
		return name
	}
	return "named there (its name is not in upper case, so it is not repeated in case it is a secret pasted in)"
}

// looksLikeCredential says whether s starts like a real credential.
func looksLikeCredential(s string) bool {
	return slices.ContainsFunc(tokenPrefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

const inlineSecret = "secrets cannot be written inline; use {env: VAR} or {file: PATH}"

// UnmarshalYAML accepts {env: NAME} or {file: PATH}, exactly one.
func (s *Secret) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	*s = Secret{}
	n := unwrapNode(node)
	switch n := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case ast.MapNode:
		return s.fromMap(ctx, node, n)
	case ast.ScalarNode:
		// The value is not repeated in the message: it is the secret.
		return badValue(ctx, node, nil, inlineSecret)
	}
	return badValue(ctx, node, nil, "a secret is written {env: VAR} or {file: PATH}")
}

func (s *Secret) fromMap(ctx context.Context, node ast.Node, m ast.MapNode) error {
	var got Secret
	for it := m.MapRange(); it.Next(); {
		name := keyName(it.Key())
		value, isString := unwrapNode(it.Value()).(*ast.StringNode)
		switch name {
		case "env", "file":
			if !isString || value.Value == "" {
				return badValue(ctx, node, it.Key().GetToken(), "%s must be a non-empty string", name)
			}
		default:
			// An unknown key is named only when it is a misspelt env or
			// file: {VALUE} is a secret written inline, and any other key
			// may be one too.
			if v := unwrapNode(it.Value()); v == nil || v.Type() == ast.NullType || looksLikeCredential(name) {
				return badValue(ctx, node, nil, inlineSecret)
			}
			if guess := closest(name, []string{"env", "file"}); guess != "" {
				return badValue(ctx, node, it.Key().GetToken(), "unknown key %q in a secret (did you mean %q?)", name, guess)
			}
			return badValue(ctx, node, it.Key().GetToken(), "unknown key in a secret; a secret has one key, env or file: {env: VAR} or {file: PATH}")
		}
		if name == "env" {
			got.Env = value.Value
		} else {
			got.File = value.Value
		}
	}

	switch {
	case got.Env != "" && got.File != "":
		return badValue(ctx, node, nil, "give env or file, not both")
	case got.Env == "" && got.File == "":
		return badValue(ctx, node, nil, "give env or file, as in {env: VAR} or {file: PATH}")
	case got.Env != "":
		if looksLikeCredential(got.Env) {
			return badValue(ctx, node, nil, "env looks like a credential, not the name of a variable; remove it from the file, revoke it, and name the variable that holds it instead")
		}
		if !envName.MatchString(got.Env) {
			return badValue(ctx, node, nil, "env must name an environment variable (letters, digits and _, not starting with a digit)")
		}
	case !filepath.IsAbs(got.File):
		if st := decodeStateFrom(ctx); st != nil {
			got.File = filepath.Join(st.dir, got.File)
		}
	}
	*s = got
	return nil
}

// Secrets is one secret or several: a webhook secret being rotated is
// listed with its successor, and a delivery signed with either is
// accepted. In YAML it is a Secret, or a list of them.
type Secrets []Secret

// Resolve reads every secret of the list, in order.
func (l Secrets) Resolve() ([]string, error) {
	if len(l) == 0 {
		return nil, ErrSecretNotSet
	}
	out := make([]string, len(l))
	for i, s := range l {
		v, err := s.Resolve()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// UnmarshalYAML accepts a secret ({env: NAME} or {file: PATH}) or a list
// of them. An empty list, and an empty entry, are problems: they would
// leave the secret unset while the file seems to give it.
func (l *Secrets) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	*l = nil
	switch n := unwrapNode(node).(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		if len(n.Values) == 0 {
			return badValue(ctx, node, nil, "empty list: give at least one secret, as {env: VAR} or {file: PATH}")
		}
		// Every entry is checked, so that all their problems are reported,
		// but the list is kept only when all are good: never half of it.
		var list Secrets
		for _, v := range n.Values {
			var msg string
			switch u := unwrapNode(v); {
			case u == nil: // go-yaml leaves aliases inside the list to us
				msg = "an alias cannot be an entry of a list of secrets; write it as {env: VAR} or {file: PATH}"
			case u.Type() == ast.NullType:
				msg = "empty entry: give each secret of the list as {env: VAR} or {file: PATH}"
			}
			if msg != "" {
				if err := badValue(ctx, v, nil, "%s", msg); err != nil {
					return err
				}
				continue
			}
			var s Secret
			if err := s.UnmarshalYAML(ctx, v); err != nil {
				return err
			}
			if s.IsSet() { // else its problem is reported
				list = append(list, s)
			}
		}
		if len(list) == len(n.Values) {
			*l = list
		}
		return nil
	}
	var s Secret
	if err := s.UnmarshalYAML(ctx, node); err != nil {
		return err
	}
	*l = Secrets{s}
	return nil
}

// MarshalYAML writes one secret as a Secret, several as a list.
func (l Secrets) MarshalYAML() (any, error) {
	if len(l) == 1 {
		return l[0].MarshalYAML()
	}
	return []Secret(l), nil
}
