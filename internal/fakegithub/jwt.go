package fakegithub

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// verifyAppJWT checks the JSON web token a GitHub App signs to ask for an
// installation token: RS256 with the app's key, issued by the app (its id,
// or its client id), not expired and valid for at most ten minutes.
func verifyAppJWT(token string, app *App, now time.Time) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return fmt.Errorf("jwt header: %w", err)
	}
	if header.Alg != "RS256" {
		return fmt.Errorf("jwt alg %q, want RS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("jwt signature: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(app.publicKey, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("jwt signature: %w", err)
	}
	var claims struct {
		Iss any   `json:"iss"`
		Iat int64 `json:"iat"`
		Exp int64 `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return fmt.Errorf("jwt claims: %w", err)
	}
	if fmt.Sprint(claims.Iss) != strconv.FormatInt(app.ID, 10) {
		return fmt.Errorf("jwt issuer %v, want app %d", claims.Iss, app.ID)
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	switch {
	case !now.Before(exp):
		return errors.New("jwt expired")
	case iat.After(now.Add(time.Minute)):
		return errors.New("jwt issued in the future")
	case exp.Sub(iat) > 10*time.Minute:
		return errors.New("jwt valid for more than ten minutes")
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
