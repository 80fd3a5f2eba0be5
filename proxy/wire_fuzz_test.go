package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzParseHead: the request-head parser never panics, and whatever it
// accepts has exactly one framing.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"POST http://a.example/x HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
		"POST http://a.example/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		head, err := readHead(bufio.NewReader(bytes.NewReader(data)), 64<<10)
		if err != nil {
			return
		}
		p, err := parseHead(head)
		if err != nil {
			return
		}
		_, te := p.Header["Transfer-Encoding"]
		_, cl := p.Header["Content-Length"]
		if te && cl {
			t.Fatalf("accepted both framings: %q", head)
		}
		if p.Chunked != te || (p.Chunked && p.Length != -1) || (!p.Chunked && p.Length < 0) {
			t.Fatalf("inconsistent framing %+v for %q", p, head)
		}
		for k, vs := range p.Header {
			for _, v := range vs {
				if strings.ContainsAny(k+v, "\r\n\x00") {
					t.Fatalf("control byte in accepted header %q: %q", k, v)
				}
			}
		}
	})
}
