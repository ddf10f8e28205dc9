package ghclient

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// tokenTransport authenticates with a fixed token.
type tokenTransport struct {
	next  http.RoundTripper
	token string
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(out)
}

// hostGuard sends credentials only to GitHub's own hosts: a redirect
// elsewhere (an artifact download, say) goes out without them.
type hostGuard struct {
	hosts     map[string]bool
	authed    http.RoundTripper
	plain     http.RoundTripper
	userAgent string
}

func (g *hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", g.userAgent)
	}
	if !g.hosts[req.URL.Host] {
		return g.plain.RoundTrip(req)
	}
	return g.authed.RoundTrip(req)
}

// fingerprint names a token in cache keys without keeping it.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}
