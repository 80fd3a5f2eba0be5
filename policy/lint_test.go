package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestWarningsLoopbackIdentities: a client with identities that lists a
// loopback source can never be identified on the plain listener; lint says
// so, and nothing else draws the warning.
func TestWarningsLoopbackIdentities(t *testing.T) {
	const tmpl = `version: 1
clients:
  - name: c
    %s
    sources: [%s]
destinations: []
`
	cases := []struct {
		identities, sources string
		warn                bool
	}{
		{`identities: [{uri: "spiffe://x/c"}]`, `"127.0.0.1/32"`, true},
		{`identities: [{cn: c}]`, `"10.0.0.0/8", "127.0.0.0/8"`, true},
		{`identities: [{dns: c.example}]`, `"::1"`, true},
		{`identities: [{uri: "spiffe://x/c"}]`, `"127.10.0.0/16"`, true},
		{`identities: [{uri: "spiffe://x/c"}]`, `"10.0.0.0/8", "::2/128"`, false},
		{`subjects: ["*@x"]`, `"127.0.0.1/32", "::1/128"`, false},     // no identities: the plain listener's kind of client
		{`identities: [{uri: "spiffe://x/c"}]`, `"0.0.0.0/0"`, false}, // warned as "any address" instead
	}
	for _, tc := range cases {
		p, err := Parse([]byte(fmt.Sprintf(tmpl, tc.identities, tc.sources)), "p.yaml")
		if err != nil {
			t.Fatalf("%s %s: %v", tc.identities, tc.sources, err)
		}
		var got []string
		for _, w := range Warnings(p) {
			if strings.Contains(w, "plain_listen") {
				got = append(got, w)
			}
		}
		if (len(got) > 0) != tc.warn {
			t.Errorf("%s, sources %s: warnings %q, want a loopback warning: %v", tc.identities, tc.sources, got, tc.warn)
		}
		for _, w := range got {
			if !strings.Contains(w, `client "c" has identities`) || !strings.Contains(w, "p.yaml:") {
				t.Errorf("warning %q does not name the client and place", w)
			}
		}
	}
}
