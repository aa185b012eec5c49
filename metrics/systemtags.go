package metrics

import (
	"fmt"
	"sort"
	"strings"
)

// SystemTag is a tag tally attaches to samples by itself.
type SystemTag uint32

// The system tags of k6.
const (
	TagProto SystemTag = 1 << iota
	TagSubproto
	TagStatus
	TagMethod
	TagURL
	TagName
	TagGroup
	TagCheck
	TagError
	TagErrorCode
	TagTLSVersion
	TagScenario
	TagService
	TagExpectedResponse
	TagVU
	TagIter
	TagOCSPStatus
	TagIP
)

var systemTagNames = map[SystemTag]string{
	TagProto: "proto", TagSubproto: "subproto", TagStatus: "status", TagMethod: "method",
	TagURL: "url", TagName: "name", TagGroup: "group", TagCheck: "check", TagError: "error",
	TagErrorCode: "error_code", TagTLSVersion: "tls_version", TagScenario: "scenario",
	TagService: "service", TagExpectedResponse: "expected_response", TagVU: "vu",
	TagIter: "iter", TagOCSPStatus: "ocsp_status", TagIP: "ip",
}

// String returns the tag's key.
func (t SystemTag) String() string { return systemTagNames[t] }

// SystemTagSet is a set of enabled system tags.
type SystemTagSet uint32

// DefaultSystemTags are the system tags enabled unless configured otherwise.
const DefaultSystemTags = SystemTagSet(TagProto | TagSubproto | TagStatus | TagMethod | TagURL | TagName |
	TagGroup | TagCheck | TagError | TagErrorCode | TagTLSVersion | TagScenario | TagService |
	TagExpectedResponse)

// Has reports whether t is enabled.
func (s SystemTagSet) Has(t SystemTag) bool { return s&SystemTagSet(t) != 0 }

// ParseSystemTags parses a list of system tag names.
func ParseSystemTags(names []string) (SystemTagSet, error) {
	var s SystemTagSet
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for t, name := range systemTagNames {
			if name == n {
				s |= SystemTagSet(t)
				found = true
				break
			}
		}
		if !found {
			known := make([]string, 0, len(systemTagNames))
			for _, name := range systemTagNames {
				known = append(known, name)
			}
			sort.Strings(known)
			return 0, fmt.Errorf("unknown system tag %q; known tags: %s", n, strings.Join(known, ", "))
		}
	}
	return s, nil
}
