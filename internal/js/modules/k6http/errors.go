package k6http

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
)

// Error codes of failed requests, as k6 reports them in Response.error_code
// and the error_code tag. HTTP statuses >= 400 get 1000+status instead.
const (
	codeGeneric          = 1000 // anything not classified below
	codeInvalidURL       = 1020 // the URL could not be parsed or has no usable scheme/host
	codeTimeout          = 1050 // the request timeout (params.timeout, default 60s) expired
	codeDNS              = 1100 // a DNS lookup failed
	codeDNSNotFound      = 1101 // the host name does not resolve
	codeBlockedIP        = 1110 // reserved: blacklistIPs is not implemented by tally
	codeBlockedHost      = 1111 // reserved: blockHostnames is not implemented by tally
	codeTCP              = 1200 // a TCP error after the connection was established
	codeDial             = 1210 // the TCP connection could not be established
	codeDialTimeout      = 1211 // the TCP connection timed out
	codeConnRefused      = 1212 // the server refused the connection
	codeConnReset        = 1220 // the peer reset the connection
	codeTLS              = 1300 // a TLS error
	codeTLSUnknownCA     = 1310 // the server certificate is signed by an unknown authority
	codeTLSHostMismatch  = 1311 // the server certificate is not valid for the host
	codeTLSInvalidCert   = 1312 // the server certificate is invalid (expired, not yet valid, ...)
	codeHTTP2            = 1600 // an HTTP/2 error
	codeHTTP2GoAway      = 1610 // the HTTP/2 server sent GOAWAY
	codeHTTP2StreamError = 1630 // an HTTP/2 stream error
	codeHTTP2ConnError   = 1650 // an HTTP/2 connection error
)

// errTimeout is what a request that ran out of time reports.
var errTimeout = errors.New("request timeout")

// classify returns the error code and the message a failed round trip
// reports. ctxErr is the request context's error, if any: a deadline there
// means the request timeout expired, whatever the transport said.
func classify(err error, ctxErr error) (int, string) {
	if errors.Is(ctxErr, context.DeadlineExceeded) || errors.Is(err, errTimeout) {
		return codeTimeout, errTimeout.Error()
	}
	msg := err.Error()
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return codeDNSNotFound, msg
		}
		return codeDNS, msg
	}
	var uaErr x509.UnknownAuthorityError
	if errors.As(err, &uaErr) {
		return codeTLSUnknownCA, msg
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return codeTLSHostMismatch, msg
	}
	var certErr x509.CertificateInvalidError
	if errors.As(err, &certErr) {
		return codeTLSInvalidCert, msg
	}
	var verErr *tls.CertificateVerificationError
	if errors.As(err, &verErr) {
		return codeTLS, msg
	}
	var recErr tls.RecordHeaderError
	var alertErr tls.AlertError
	if errors.As(err, &recErr) || errors.As(err, &alertErr) || strings.HasPrefix(msg, "tls: ") {
		return codeTLS, msg
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return codeConnRefused, msg
		case errors.Is(err, syscall.ECONNRESET):
			return codeConnReset, msg
		case opErr.Op == "dial" && (opErr.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)):
			return codeDialTimeout, msg
		case opErr.Op == "dial":
			return codeDial, msg
		}
		return codeTCP, msg
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return codeConnReset, msg
	}
	if strings.Contains(msg, "http2: ") {
		switch {
		case strings.Contains(msg, "GOAWAY"):
			return codeHTTP2GoAway, msg
		case strings.Contains(msg, "stream error"):
			return codeHTTP2StreamError, msg
		case strings.Contains(msg, "connection error"):
			return codeHTTP2ConnError, msg
		}
		return codeHTTP2, msg
	}
	return codeGeneric, msg
}
