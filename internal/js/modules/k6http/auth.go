package k6http

import (
	"crypto/md5" //nolint:gosec // HTTP digest authentication is defined over MD5
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"strings"
)

// basicAuth returns the Authorization header value of HTTP basic auth.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// parseChallenge parses the parameters of a WWW-Authenticate challenge
// ("Digest realm="x", nonce="y", qop="auth"").
func parseChallenge(chal string) map[string]string {
	params := map[string]string{}
	_, rest, _ := strings.Cut(strings.TrimSpace(chal), " ")
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		after = strings.TrimLeft(after, " ")
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				val, rest = after[1:], ""
			} else {
				val, rest = after[1:1+end], after[2+end:]
			}
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		params[key] = val
	}
	return params
}

// digestAuthorization answers a Digest challenge (RFC 7616) for a request
// of method to u, with the credentials of u's userinfo.
func digestAuthorization(chal, method string, u *url.URL, body string) (string, error) {
	p := parseChallenge(chal)
	var newHash func() hash.Hash
	algo := p["algorithm"]
	switch strings.ToUpper(algo) {
	case "", "MD5", "MD5-SESS":
		newHash = md5.New
	case "SHA-256", "SHA-256-SESS":
		newHash = sha256.New
	default:
		return "", fmt.Errorf("unsupported digest algorithm %q", algo)
	}
	h := func(s string) string {
		d := newHash()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	user := u.User.Username()
	pw, _ := u.User.Password()
	realm, nonce := p["realm"], p["nonce"]
	var cb [8]byte
	_, _ = rand.Read(cb[:])
	cnonce := hex.EncodeToString(cb[:])
	nc := "00000001"
	ha1 := h(user + ":" + realm + ":" + pw)
	if strings.HasSuffix(strings.ToUpper(algo), "-SESS") {
		ha1 = h(ha1 + ":" + nonce + ":" + cnonce)
	}
	uri := u.RequestURI()
	qop := ""
	for _, q := range strings.Split(p["qop"], ",") {
		switch strings.TrimSpace(q) {
		case "auth":
			qop = "auth"
		case "auth-int":
			if qop == "" {
				qop = "auth-int"
			}
		}
	}
	ha2 := h(method + ":" + uri)
	if qop == "auth-int" {
		ha2 = h(method + ":" + uri + ":" + h(body))
	}
	var resp string
	if qop == "" {
		resp = h(ha1 + ":" + nonce + ":" + ha2)
	} else {
		resp = h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`, user, realm, nonce, uri, resp)
	if algo != "" {
		fmt.Fprintf(&b, `, algorithm=%s`, algo)
	}
	if o, ok := p["opaque"]; ok {
		fmt.Fprintf(&b, `, opaque="%s"`, o)
	}
	if qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce="%s"`, qop, nc, cnonce)
	}
	return b.String(), nil
}
