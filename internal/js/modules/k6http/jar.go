package k6http

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
)

// cookieJar is a cookie jar that knows whether it ever held a cookie, so an
// unused jar costs nothing per request and need not be replaced at the
// start of an iteration. It is safe for concurrent use.
type cookieJar struct {
	jar  *cookiejar.Jar
	used atomic.Bool
}

func newCookieJar() *cookieJar {
	j, _ := cookiejar.New(nil) // never fails without options
	return &cookieJar{jar: j}
}

// cookies returns the cookies to send to u.
func (j *cookieJar) cookies(u *url.URL) []*http.Cookie {
	if !j.used.Load() {
		return nil
	}
	return j.jar.Cookies(u)
}

// setCookies stores cookies received from (or set for) u.
func (j *cookieJar) setCookies(u *url.URL, cs []*http.Cookie) {
	if len(cs) == 0 {
		return
	}
	j.used.Store(true)
	j.jar.SetCookies(u, cs)
}

// delete removes the cookie called name that would be sent to u. The
// standard jar cannot list its entries, so every path and domain under which
// such a cookie could be stored is expired.
func (j *cookieJar) delete(u *url.URL, name string) {
	if !j.used.Load() {
		return
	}
	host := u.Hostname()
	var expire []*http.Cookie
	for _, p := range pathPrefixes(u.EscapedPath()) {
		expire = append(expire, &http.Cookie{Name: name, Path: p, MaxAge: -1})
		for d := host; ; {
			expire = append(expire, &http.Cookie{Name: name, Path: p, Domain: d, MaxAge: -1})
			i := strings.IndexByte(d, '.')
			if i < 0 || net4or6(host) {
				break
			}
			d = d[i+1:]
			if !strings.Contains(d, ".") {
				break
			}
		}
	}
	j.jar.SetCookies(u, expire)
}

// clear removes every cookie that would be sent to u.
func (j *cookieJar) clear(u *url.URL) {
	for _, c := range j.cookies(u) {
		j.delete(u, c.Name)
	}
}

// net4or6 reports whether host is an IP address (no parent domains).
func net4or6(host string) bool {
	return strings.Count(host, ":") > 0 || strings.Trim(host, "0123456789.") == ""
}

// pathPrefixes returns "/", and every directory prefix of p, and p itself.
func pathPrefixes(p string) []string {
	out := []string{"/"}
	if p == "" || p == "/" {
		return out
	}
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return append(out, strings.TrimSuffix(p, "/"), p)
}
