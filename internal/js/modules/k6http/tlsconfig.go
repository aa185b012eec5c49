package k6http

import (
	"context"
	"crypto/tls"
	"strings"

	"github.com/tallyhq/tally/internal/options"
)

// tlsHostKey carries the host name of a round trip in its context, so the
// client certificate of the tlsAuth option can be chosen per host.
type tlsHostKey struct{}

// clientCert is one tlsAuth entry, parsed.
type clientCert struct {
	domains []string
	cert    tls.Certificate
}

// matches reports whether the certificate is for host: an empty domain
// list matches every host; a domain matches itself and its subdomains
// ("*.d" only the subdomains).
func (c *clientCert) matches(host string) bool {
	if len(c.domains) == 0 {
		return true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range c.domains {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if rest, ok := strings.CutPrefix(d, "*"); ok {
			if strings.HasSuffix(host, rest) {
				return true
			}
			continue
		}
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// newTLSConfig builds the client TLS configuration of the options
// insecureSkipTLSVerify, tlsVersion, tlsCipherSuites and tlsAuth (the
// options package validated them).
func newTLSConfig(o *options.Options) *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: options.Bool(o.InsecureSkipTLSVerify)} //nolint:gosec // a user option
	if v := o.TLSVersion; v != nil {
		cfg.MinVersion, _ = options.TLSVersionID(v.Min)
		cfg.MaxVersion, _ = options.TLSVersionID(v.Max)
	}
	for _, name := range o.TLSCipherSuites {
		if id, err := options.CipherSuiteID(name); err == nil {
			cfg.CipherSuites = append(cfg.CipherSuites, id)
		}
	}
	var certs []clientCert
	for _, a := range o.TLSAuth {
		if c, err := a.Certificate(); err == nil {
			certs = append(certs, clientCert{domains: a.Domains, cert: c})
		}
	}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			// The first certificate for the host that the server accepts,
			// else the first one for the host (the server then decides),
			// as Go does with a fixed certificate list.
			host, _ := cri.Context().Value(tlsHostKey{}).(string)
			var fallback *tls.Certificate
			for i := range certs {
				if !certs[i].matches(host) {
					continue
				}
				if cri.SupportsCertificate(&certs[i].cert) == nil {
					return &certs[i].cert, nil
				}
				if fallback == nil {
					fallback = &certs[i].cert
				}
			}
			if fallback != nil {
				return fallback, nil
			}
			return &tls.Certificate{}, nil // no certificate for this host
		}
	}
	return cfg
}

// withTLSHost returns ctx carrying host for the tlsAuth lookup.
func withTLSHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, tlsHostKey{}, host)
}
