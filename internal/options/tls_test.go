package options

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

func TestParseNetworkOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		errOpt  string // option named by the *InvalidError; "" = no error
		warning string // substring of a warning; "" = no warning
	}{
		{"hosts ip", `{"hosts": {"a.test": "127.0.0.1", "b.test:80": "::1", "*.c.test": "127.0.0.1:8080"}}`, "", ""},
		{"hosts name value", `{"hosts": {"a.test": "example.org"}}`, "hosts.a.test", ""},
		{"hosts bad port", `{"hosts": {"a.test": "127.0.0.1:99999"}}`, "hosts.a.test", ""},
		{"tls version string", `{"tlsVersion": "tls1.2"}`, "", ""},
		{"tls version range", `{"tlsVersion": {"min": "tls1.2", "max": "tls1.3"}}`, "", ""},
		{"tls version unknown", `{"tlsVersion": "ssl2"}`, "tlsVersion", ""},
		{"tls version inverted", `{"tlsVersion": {"min": "tls1.3", "max": "tls1.2"}}`, "tlsVersion", ""},
		{"cipher suites", `{"tlsCipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}`, "", ""},
		{"cipher suite unknown", `{"tlsCipherSuites": ["TLS_NOPE"]}`, "tlsCipherSuites", ""},
		{"tls auth bad pem", `{"tlsAuth": [{"domains": ["x"], "cert": "nope", "key": "nope"}]}`, "tlsAuth[0]", ""},
		{"dns warns", `{"dns": {"ttl": "1m"}}`, "", `"dns" is not supported`},
		{"blockHostnames warns", `{"blockHostnames": ["*.x"]}`, "", `"blockHostnames" is not supported`},
		{"localIPs warns", `{"localIPs": "10.0.0.1"}`, "", `"localIPs" is not supported`},
		{"blacklistIPs warns", `{"blacklistIPs": ["10.0.0.0/8"]}`, "", `"blacklistIPs" is not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, warnings, err := Parse([]byte(tc.in))
			var ie *InvalidError
			switch {
			case tc.errOpt == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.errOpt != "" && (!errors.As(err, &ie) || ie.Option != tc.errOpt):
				t.Fatalf("error %v, want an InvalidError for %s", err, tc.errOpt)
			}
			got := strings.Join(warnings, "\n")
			if (tc.warning == "") != (got == "") || !strings.Contains(got, tc.warning) {
				t.Errorf("warnings %q, want %q", got, tc.warning)
			}
		})
	}
}

func TestTLSVersionForms(t *testing.T) {
	t.Parallel()
	o, _, err := Parse([]byte(`{"tlsVersion": "tls1.3"}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.TLSVersion.Min != "tls1.3" || o.TLSVersion.Max != "tls1.3" {
		t.Errorf("single version = %+v", o.TLSVersion)
	}
	if id, _ := TLSVersionID("TLS1.2"); id != tls.VersionTLS12 {
		t.Errorf("TLSVersionID(TLS1.2) = %x", id)
	}
	if id, _ := CipherSuiteID("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"); id != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("CipherSuiteID = %x", id)
	}
}

func TestFromEnvNetworkAndTags(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"K6_TAGS":              "team=credits, env=ci",
		"K6_HOSTS":             `{"api.test": "127.0.0.1:8080"}`,
		"K6_TLS_VERSION":       "tls1.2",
		"K6_TLS_CIPHER_SUITES": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	}
	o, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if o.Tags["team"] != "credits" || o.Tags["env"] != "ci" {
		t.Errorf("tags = %v", o.Tags)
	}
	if o.Hosts["api.test"] != "127.0.0.1:8080" || o.TLSVersion.Min != "tls1.2" || len(o.TLSCipherSuites) != 2 {
		t.Errorf("hosts %v, tlsVersion %+v, suites %v", o.Hosts, o.TLSVersion, o.TLSCipherSuites)
	}
	for name, val := range map[string]string{"K6_TAGS": "novalue", "K6_HOSTS": "{", "K6_TLS_VERSION": "tls9"} {
		_, err := FromEnv(func(k string) (string, bool) {
			if k == name {
				return val, true
			}
			return "", false
		})
		if err == nil {
			t.Errorf("%s=%q: no error", name, val)
		}
	}
}
