package webauth

import (
	"net/http"
	"time"
)

// Cookie names. With an https public URL they take the __Host- prefix,
// which browsers accept only from a secure origin, for the whole host,
// with no Domain: another site under the same domain cannot set them.
const (
	sessionCookie = "refbot_session"
	loginCookie   = "refbot_login"
)

// session is what a session cookie holds, sealed.
type session struct {
	// Login is the GitHub login; "" for a session begun with a token.
	Login string `json:"l,omitempty"`
	// Token is the user's OAuth token, for asking GitHub again whether
	// the user may read the repository.
	Token string `json:"t,omitempty"`
	// TokenID names the configured token a token session was begun with
	// (an HMAC of it, not the token).
	TokenID string `json:"k,omitempty"`
	Issued  int64  `json:"i"` // Unix seconds
	Checked int64  `json:"c"` // Unix seconds: when GitHub last said the user may read
}

// pendingLogin is what the login cookie holds between /login and
// /login/callback, sealed.
type pendingLogin struct {
	State    string `json:"s"`
	Verifier string `json:"v"` // PKCE
	Next     string `json:"n"`
	Expires  int64  `json:"e"`
}

func (a *Auth) cookieName(base string) string {
	if a.secure {
		return "__Host-" + base
	}
	return base
}

func (a *Auth) setCookie(w http.ResponseWriter, base string, v any, maxAge time.Duration) error {
	value, err := a.seal.sealJSON(a.cookieName(base), v)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(base), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (a *Auth) clearCookie(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{
		Name: a.cookieName(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

// readCookie opens a sealed cookie into v.
func (a *Auth) readCookie(r *http.Request, base string, v any) bool {
	c, err := r.Cookie(a.cookieName(base))
	if err != nil || c.Value == "" {
		return false
	}
	return a.seal.openJSON(a.cookieName(base), c.Value, v) == nil
}

// readSession returns the request's session when its cookie opens and it
// has not expired.
func (a *Auth) readSession(r *http.Request) (session, bool) {
	var s session
	if !a.readCookie(r, sessionCookie, &s) {
		return session{}, false
	}
	now := a.o.Now()
	issued := time.Unix(s.Issued, 0)
	if !now.Before(issued.Add(a.o.SessionTTL)) || issued.After(now.Add(time.Minute)) {
		return session{}, false
	}
	if (s.Login == "") == (s.TokenID == "") || (s.Login != "" && s.Token == "") {
		return session{}, false
	}
	return s, true
}

// setSession writes s as the session cookie; it expires with the session.
func (a *Auth) setSession(w http.ResponseWriter, s session) {
	left := time.Unix(s.Issued, 0).Add(a.o.SessionTTL).Sub(a.o.Now())
	if err := a.setCookie(w, sessionCookie, s, left); err != nil {
		// Only json.Marshal of a plain struct can fail here.
		panic("webauth: seal a session: " + err.Error())
	}
}
