package ghclient

import (
	"regexp"
	"strings"
)

// userLogin is a GitHub user's login as GitHub allows it today: letters,
// digits and single hyphens, not at either end.
var userLogin = regexp.MustCompile(`^[A-Za-z0-9](?:-?[A-Za-z0-9])*$`)

// ValidLogin says whether s is a GitHub user's login: the form above, at
// most 39 characters.
func ValidLogin(s string) bool {
	return len(s) <= 39 && userLogin.MatchString(s)
}

// ValidActor says whether s is a login or a GitHub App's bot account
// ("name[bot]"), as comments and events name their authors.
func ValidActor(s string) bool {
	if name, ok := strings.CutSuffix(s, "[bot]"); ok {
		return ValidLogin(name)
	}
	return ValidLogin(s)
}
