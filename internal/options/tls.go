package options

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// TLSAuth is one client certificate of the tlsAuth option: PEM cert and key
// (the key optionally encrypted with password), used for the listed domains
// (all hosts when the list is empty).
type TLSAuth struct {
	Domains  []string `json:"domains"`
	Cert     string   `json:"cert"`
	Key      string   `json:"key"`
	Password string   `json:"password,omitempty"`
}

// TLSVersion is the tlsVersion option: a single version ("tls1.2") or a
// {min, max} range; an empty bound means Go's default.
type TLSVersion struct {
	Min string `json:"min"`
	Max string `json:"max"`
}

// UnmarshalJSON accepts "tls1.2" or {"min": "tls1.2", "max": "tls1.3"}.
func (v *TLSVersion) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v.Min, v.Max = s, s
		return nil
	}
	type plain TLSVersion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*v = TLSVersion(p)
	return nil
}

var tlsVersions = map[string]uint16{
	"tls1.0": tls.VersionTLS10, "tls1.1": tls.VersionTLS11,
	"tls1.2": tls.VersionTLS12, "tls1.3": tls.VersionTLS13,
}

// TLSVersionID returns the crypto/tls constant of a tlsVersion name ("tls1.2"),
// 0 for "".
func TLSVersionID(name string) (uint16, error) {
	if name == "" {
		return 0, nil
	}
	id, ok := tlsVersions[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return 0, fmt.Errorf("unknown TLS version %q: use tls1.0, tls1.1, tls1.2 or tls1.3", name)
	}
	return id, nil
}

// CipherSuiteID returns the crypto/tls ID of a cipher suite named as in
// tlsCipherSuites (the IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256).
func CipherSuiteID(name string) (uint16, error) {
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if cs.Name == name {
				return cs.ID, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown cipher suite %q (names as in IANA's registry, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", name)
}

// validateTLS checks hosts, tlsAuth, tlsVersion and tlsCipherSuites so that a
// mistake fails before the test starts (exit 104) instead of at the first
// request.
func (o *Options) validateTLS() error {
	for name, target := range o.Hosts {
		if err := checkHostTarget(target); err != nil {
			return &InvalidError{Option: "hosts." + name, Err: err}
		}
	}
	if v := o.TLSVersion; v != nil {
		lo, err := TLSVersionID(v.Min)
		if err != nil {
			return &InvalidError{Option: "tlsVersion", Err: err}
		}
		hi, err := TLSVersionID(v.Max)
		if err != nil {
			return &InvalidError{Option: "tlsVersion", Err: err}
		}
		if lo != 0 && hi != 0 && lo > hi {
			return &InvalidError{Option: "tlsVersion", Err: fmt.Errorf("min %s is above max %s", v.Min, v.Max)}
		}
	}
	for _, name := range o.TLSCipherSuites {
		if _, err := CipherSuiteID(name); err != nil {
			return &InvalidError{Option: "tlsCipherSuites", Err: err}
		}
	}
	for i, a := range o.TLSAuth {
		if _, err := a.Certificate(); err != nil {
			return &InvalidError{Option: fmt.Sprintf("tlsAuth[%d]", i), Err: err}
		}
	}
	return nil
}

// checkHostTarget accepts an IP or IP:port (the value of a hosts entry).
func checkHostTarget(target string) error {
	ip := target
	if h, p, err := net.SplitHostPort(target); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("%q: invalid port %q", target, p)
		}
		ip = h
	}
	if net.ParseIP(ip) == nil {
		return fmt.Errorf("%q is not an IP address or IP:port (tally, like k6, does not resolve host names here)", target)
	}
	return nil
}

// Certificate parses the PEM certificate and key.
func (a TLSAuth) Certificate() (tls.Certificate, error) {
	if a.Password != "" {
		return tls.Certificate{}, errors.New("password-protected keys are not supported: decrypt the key (e.g. openssl pkey -in key.pem -out plain.pem)")
	}
	c, err := tls.X509KeyPair([]byte(a.Cert), []byte(a.Key))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cert/key: %w", err)
	}
	return c, nil
}
