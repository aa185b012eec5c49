package k6http

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	cases := []struct {
		name   string
		err    error
		ctxErr error
		code   int
	}{
		{"request timeout", errors.New("i/o timeout"), context.DeadlineExceeded, codeTimeout},
		{"no such host", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, nil, codeDNSNotFound},
		{"dns failure", &net.DNSError{Err: "server misbehaving", Name: "x"}, nil, codeDNS},
		{"refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), nil, codeConnRefused},
		{"dial timeout", dial(os.ErrDeadlineExceeded), nil, codeDialTimeout},
		{"dial other", dial(errors.New("network is unreachable")), nil, codeDial},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, nil, codeConnReset},
		{"tcp other", &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken")}, nil, codeTCP},
		{"unknown authority", x509.UnknownAuthorityError{}, nil, codeTLSUnknownCA},
		{"hostname mismatch", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}, nil, codeTLSHostMismatch},
		{"expired", x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired}, nil, codeTLSInvalidCert},
		{"tls alert", errors.New("tls: handshake failure"), nil, codeTLS},
		{"http2 goaway", errors.New("http2: server sent GOAWAY and closed the connection"), nil, codeHTTP2GoAway},
		{"http2 stream", errors.New("stream error: stream ID 3; PROTOCOL_ERROR; http2: received"), nil, codeHTTP2StreamError},
		{"http2 other", errors.New("http2: client connection lost"), nil, codeHTTP2},
		{"eof", io.ErrUnexpectedEOF, nil, codeGeneric},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, msg := classify(tc.err, tc.ctxErr)
			if code != tc.code {
				t.Fatalf("code = %d, want %d (%s)", code, tc.code, msg)
			}
			if msg == "" {
				t.Fatal("empty message")
			}
		})
	}
}
