package k6http

import (
	"net"
	"strings"
)

// hostMap is the hosts option: names the client connects to without
// resolving them. A key "name" matches every port, "name:port" only that
// port, and "*.domain" (with or without a port) every subdomain of domain;
// a value with a port replaces the URL's port.
type hostMap struct {
	exact    map[string]string // "name" or "name:port" -> "ip" or "ip:port"
	wildcard []wildHost        // longest suffix first
}

type wildHost struct {
	suffix string // ".domain"
	port   string // "" matches every port
	target string
}

// newHostMap builds the map of the hosts option (nil when empty).
func newHostMap(hosts map[string]string) *hostMap {
	if len(hosts) == 0 {
		return nil
	}
	m := &hostMap{exact: map[string]string{}}
	for k, v := range hosts {
		k = strings.ToLower(strings.TrimSpace(k))
		if rest, ok := strings.CutPrefix(k, "*"); ok {
			name, port := rest, ""
			if h, p, err := net.SplitHostPort(rest); err == nil {
				name, port = h, p
			}
			m.wildcard = append(m.wildcard, wildHost{suffix: name, port: port, target: v})
			continue
		}
		m.exact[k] = v
	}
	// Most specific first: longer suffixes, then port-bound keys.
	for i := 1; i < len(m.wildcard); i++ {
		for j := i; j > 0 && moreSpecific(m.wildcard[j], m.wildcard[j-1]); j-- {
			m.wildcard[j], m.wildcard[j-1] = m.wildcard[j-1], m.wildcard[j]
		}
	}
	return m
}

func moreSpecific(a, b wildHost) bool {
	if len(a.suffix) != len(b.suffix) {
		return len(a.suffix) > len(b.suffix)
	}
	return a.port != "" && b.port == ""
}

// resolve returns the address to dial instead of addr ("host:port"), or
// addr itself when no entry matches.
func (m *hostMap) resolve(addr string) string {
	if m == nil {
		return addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	target, ok := m.exact[net.JoinHostPort(host, port)]
	if !ok {
		target, ok = m.exact[host]
	}
	if !ok {
		for _, w := range m.wildcard {
			if strings.HasSuffix(host, w.suffix) && (w.port == "" || w.port == port) {
				target, ok = w.target, true
				break
			}
		}
	}
	if !ok {
		return addr
	}
	if _, _, err := net.SplitHostPort(target); err == nil {
		return target
	}
	return net.JoinHostPort(target, port)
}
