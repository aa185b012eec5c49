package k6http

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

func TestHostMapResolve(t *testing.T) {
	t.Parallel()
	m := newHostMap(map[string]string{
		"a.test":        "10.0.0.1",
		"a.test:8443":   "10.0.0.2:9443",
		"b.test":        "10.0.0.3:81",
		"*.w.test":      "10.0.0.4",
		"*.deep.w.test": "10.0.0.5",
		"*.p.test:8080": "10.0.0.6",
	})
	for addr, want := range map[string]string{
		"a.test:80":          "10.0.0.1:80",
		"A.Test:443":         "10.0.0.1:443",
		"a.test:8443":        "10.0.0.2:9443",
		"b.test:9999":        "10.0.0.3:81",
		"x.w.test:80":        "10.0.0.4:80",
		"x.deep.w.test:80":   "10.0.0.5:80",
		"w.test:80":          "w.test:80", // the wildcard covers subdomains only
		"x.p.test:8080":      "10.0.0.6:8080",
		"x.p.test:80":        "x.p.test:80",
		"other.test:80":      "other.test:80",
		"127.0.0.1:8080":     "127.0.0.1:8080",
		"fixture.invalid:80": "fixture.invalid:80",
	} {
		if got := m.resolve(addr); got != want {
			t.Errorf("resolve(%s) = %s, want %s", addr, got, want)
		}
	}
	var none *hostMap
	if got := none.resolve("a.test:80"); got != "a.test:80" {
		t.Errorf("nil map changed the address: %s", got)
	}
}

// TestHostsOption runs requests to made-up names (under .invalid, which
// never resolve) mapped to a local server, over both plain-http paths and
// over TLS.
func TestHostsOption(t *testing.T) {
	t.Parallel()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.Host)) })
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(handler)
	secure.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(secure.Close)
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())
	_, securePort, _ := net.SplitHostPort(secure.Listener.Addr().String())
	opts := options.Options{InsecureSkipTLSVerify: ptr(true), Hosts: map[string]string{
		"api.tally.invalid":        "127.0.0.1:" + plainPort,
		"*.wild.tally.invalid":     "127.0.0.1:" + plainPort,
		"secure.tally.invalid":     "127.0.0.1:" + securePort,
		"pinned.tally.invalid:81":  "127.0.0.1:" + plainPort,
		"unmapped.tally.invalid:1": "127.0.0.1:" + plainPort,
	}}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			v := newVU(t, withOptions(opts), withStd(tr.std))
			_ = v.rt.Set("PORT", plainPort)
			v.expect(`
				const ok = (r, host) => r.status === 200 && r.body === host && r.remote_ip === "127.0.0.1" && String(r.remote_port) === PORT;
				const a = http.get("http://api.tally.invalid/x");
				const w = http.get("http://x.wild.tally.invalid:7/x");
				const p = http.get("http://pinned.tally.invalid:81/x");
				const miss = http.get("http://pinned.tally.invalid:82/x");
				return ok(a, "api.tally.invalid") && a.url === "http://api.tally.invalid/x" &&
					ok(w, "x.wild.tally.invalid:7") && ok(p, "pinned.tally.invalid:81") && miss.error_code === 1101 ||
					[a.status, a.body, a.remote_ip, a.remote_port, w.body, w.error, p.body, p.error, miss.error_code];`)
			if n, _ := v.count("http_reqs", map[string]string{"name": "http://api.tally.invalid/x"}); n != 1 {
				t.Errorf("http_reqs{name:http://api.tally.invalid/x} = %d, want 1", n)
			}
		})
	}
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		v := newVU(t, withOptions(opts))
		v.expect(`const r = http.get("https://secure.tally.invalid/x");
			return r.status === 200 && r.body === "secure.tally.invalid" && r.tls_version !== "" || [r.status, r.error, r.body];`)
	})
}

// testPKI is a CA with a server and a client certificate.
type testPKI struct {
	caPool                 *x509.CertPool
	server                 tls.Certificate
	clientCert, clientKey  string // PEM
	strangerCert, strangeK string // PEM of a client certificate from another CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey, key *ecdsa.PrivateKey) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pemOf := func(c *x509.Certificate, k *ecdsa.PrivateKey) (string, string) {
		kb, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
			string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	caKey, otherKey := newKey(), newKey()
	ca := issue(caTmpl("tally test CA"), nil, nil, caKey)
	other := issue(caTmpl("other CA"), nil, nil, otherKey)
	p := &testPKI{caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)

	serverKey := newKey()
	srv := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "server"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey, serverKey)
	sc, sk := pemOf(srv, serverKey)
	var err error
	if p.server, err = tls.X509KeyPair([]byte(sc), []byte(sk)); err != nil {
		t.Fatal(err)
	}
	clientTmpl := func() *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "tally client"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	}
	clientKey, strangerKey := newKey(), newKey()
	p.clientCert, p.clientKey = pemOf(issue(clientTmpl(), ca, caKey, clientKey), clientKey)
	p.strangerCert, p.strangeK = pemOf(issue(clientTmpl(), other, otherKey, strangerKey), strangerKey)
	return p
}

// TestTLSOptions checks tlsAuth (client certificates per domain), tlsVersion
// and tlsCipherSuites against a server that verifies client certificates.
func TestTLSOptions(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		_, _ = w.Write([]byte(cn))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.caPool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	hosts := map[string]string{"mtls.tally.invalid": "127.0.0.1:" + port, "other.tally.invalid": "127.0.0.1:" + port}

	tests := []struct {
		name   string
		opts   options.Options
		expect string
	}{
		{"client certificate for its domain", options.Options{
			TLSAuth: []options.TLSAuth{{Domains: []string{"tally.invalid"}, Cert: pki.clientCert, Key: pki.clientKey}}},
			`const r = http.get("https://mtls.tally.invalid/"); return r.status === 200 && r.body === "tally client" || [r.status, r.error, r.body];`},
		{"no certificate for other domains", options.Options{
			TLSAuth: []options.TLSAuth{{Domains: []string{"example.org"}, Cert: pki.clientCert, Key: pki.clientKey}}},
			`const r = http.get("https://mtls.tally.invalid/"); return r.status === 200 && r.body === "" || [r.status, r.error, r.body];`},
		{"certificate of an unknown CA is refused", options.Options{
			TLSAuth: []options.TLSAuth{{Cert: pki.strangerCert, Key: pki.strangeK}}},
			`const r = http.get("https://other.tally.invalid/"); return r.status === 0 && r.error !== "" || [r.status, r.error_code, r.error];`},
		{"tlsVersion caps the version", options.Options{TLSVersion: &options.TLSVersion{Max: "tls1.2"}},
			`const r = http.get("https://mtls.tally.invalid/"); return r.status === 200 && r.tls_version === http.TLS_1_2 || [r.status, r.tls_version, r.error];`},
		{"tlsVersion floor above the server's", options.Options{TLSVersion: &options.TLSVersion{Min: "tls1.3", Max: "tls1.3"}},
			`const r = http.get("https://mtls.tally.invalid/"); return r.status === 200 && r.tls_version === http.TLS_1_3 || [r.status, r.tls_version, r.error];`},
		{"tlsCipherSuites picks the suite", options.Options{TLSVersion: &options.TLSVersion{Max: "tls1.2"},
			TLSCipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}},
			`const r = http.get("https://mtls.tally.invalid/");
			 return r.status === 200 && r.tls_cipher_suite === "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" || [r.status, r.tls_cipher_suite, r.error];`},
		{"tlsCipherSuites the server cannot use", options.Options{TLSVersion: &options.TLSVersion{Max: "tls1.2"},
			TLSCipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}, // an RSA suite for an ECDSA certificate
			`const r = http.get("https://mtls.tally.invalid/"); return r.status === 0 && r.error.includes("handshake") || [r.status, r.error_code, r.error];`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.Hosts, o.InsecureSkipTLSVerify = hosts, ptr(true)
			v := newVU(t, withOptions(o))
			v.expect(tc.expect)
		})
	}
}
