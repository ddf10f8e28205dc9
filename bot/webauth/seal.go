package webauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sealer seals cookies (AES-256-GCM) and signs links (HMAC-SHA256), each
// with its own key derived from Options.Key by HKDF.
type sealer struct {
	aead    cipher.AEAD
	linkKey []byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("web access: the key is %d bytes; it must be at least %d", len(key), MinKeyLen)
	}
	cookieKey, err := hkdf.Key(sha256.New, key, nil, "refbot webauth cookie v1", 32)
	if err != nil {
		return nil, fmt.Errorf("web access: derive the cookie key: %w", err)
	}
	linkKey, err := hkdf.Key(sha256.New, key, nil, "refbot webauth link v1", 32)
	if err != nil {
		return nil, fmt.Errorf("web access: derive the link key: %w", err)
	}
	block, err := aes.NewCipher(cookieKey)
	if err != nil {
		return nil, fmt.Errorf("web access: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("web access: %w", err)
	}
	return &sealer{aead: aead, linkKey: linkKey}, nil
}

// sealJSON encrypts v for a cookie named name: the name is bound in, so
// that one cookie's value does not open as another's.
func (s *sealer) sealJSON(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, plain, []byte(name))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

var errSeal = errors.New("cookie does not open")

// openJSON reverses sealJSON; any change to the value fails.
func (s *sealer) openJSON(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return errSeal
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return errSeal
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errSeal
	}
	return nil
}

// mac is the link key's HMAC of a purpose and a message, base64url.
func (s *sealer) mac(purpose, msg string) string {
	h := hmac.New(sha256.New, s.linkKey)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// thumbPath matches the paths a signed link may open: the thumbnails of a
// PR's review and the thumbnails of pushed data.
var thumbPath = regexp.MustCompile(`^/(thumb|pr/[1-9][0-9]*/thumb)/`)

// signable says whether p is a thumbnail path in its clean form.
func signable(p string) bool {
	return thumbPath.MatchString(p) && path.Clean(p) == p && !strings.Contains(p, "//")
}

// Sign returns the query string ("exp=…&sig=…") that lets anyone holding
// the link GET that exact path, with that exact query, until exp: for the
// thumbnails in PR replies, which GitHub's image proxy fetches without
// cookies. target is the URL's path as the request will read it (decoded:
// r.URL.Path), optionally followed by "?" and its query, which the
// signature covers too (a thumbnail's old side is named in it). Only
// thumbnail paths (/thumb/… and /pr/{n}/thumb/…) are ever admitted with a
// signature: for any other path, and in public mode (no signature is
// needed), Sign returns "".
func (a *Auth) Sign(target string, exp time.Time) string {
	p, rawQuery, _ := strings.Cut(target, "?")
	q, err := url.ParseQuery(rawQuery)
	if a.seal == nil || !signable(p) || err != nil || q.Has("exp") || q.Has("sig") {
		return ""
	}
	e := strconv.FormatInt(exp.Unix(), 10)
	return "exp=" + e + "&sig=" + a.seal.mac("link", signedText(p, q, e))
}

// signedText is what a link's signature covers: its path, its query but
// the signature's own parameters (sorted, as url.Values encodes them), and
// its expiry.
func signedText(p string, q url.Values, exp string) string {
	rest := url.Values{}
	for k, v := range q {
		if k != "exp" && k != "sig" {
			rest[k] = v
		}
	}
	return p + "\n" + rest.Encode() + "\n" + exp
}

// signedLink reports whether r is a GET of a thumbnail path with a valid,
// unexpired signature.
func (a *Auth) signedLink(r *http.Request) bool {
	q := r.URL.Query()
	sig, e := q.Get("sig"), q.Get("exp")
	if sig == "" || e == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) || !signable(r.URL.Path) {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !a.o.Now().Before(time.Unix(exp, 0)) {
		return false
	}
	want := a.seal.mac("link", signedText(r.URL.Path, q, e))
	return hmac.Equal([]byte(want), []byte(sig))
}

// KeyFromFile reads the key of Options.Key from path, creating it (32
// random bytes, hex, mode 0600) when it does not exist: for a single
// refbot, whose state folder keeps it. Replicas must share one key: give
// them the same file or pages.session_key.
func KeyFromFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		b = []byte(fmt.Sprintf("%x\n", raw))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return KeyFromFile(path) // another refbot made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create the pages' key: %w", err)
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write the pages' key %s: %w", path, werr)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read the pages' key: %w", err)
	}
	key := []byte(strings.TrimRight(string(b), "\r\n"))
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("the pages' key %s is %d bytes; it must be at least %d", path, len(key), MinKeyLen)
	}
	return key, nil
}
