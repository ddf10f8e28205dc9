package main

import (
	"slices"
	"strings"
)

// refbotSecretVariables hold refbot's credentials without the
// configuration naming them: PostgreSQL's password (database).
var refbotSecretVariables = []string{"PGPASSWORD"}

// withoutVariables is env (NAME=value entries) without the variables
// names: what refbot passes to a program it runs (website.stop_command),
// which has no use for refbot's credentials.
func withoutVariables(env, names []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}
