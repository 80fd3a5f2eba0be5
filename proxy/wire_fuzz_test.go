package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
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

// FuzzChunkedBody: the chunked request-body reader never panics, never reads
// past the end of the body's trailer section, and, where net/http also
// accepts the body, agrees with it on the body and on where the next
// request starts (a trailer must never become a request).
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\nNEXT",
		"5\r\nhello\r\n0\r\nGET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"0\r\nX-A: 1\n\r\n",
		"3;ext=1\r\nabc\r\n0\r\n\r\n",
		"zz\r\nabc\r\n0\r\n\r\n",
		"10\r\nabc",
	} {
		f.Add([]byte(s))
	}
	const head = "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n"
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		got, err := io.ReadAll(newChunkedBody(br, 4096))
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(br)
		if len(got) > len(data) || len(rest) > len(data) {
			t.Fatalf("read %d body bytes and %d rest from %d", len(got), len(rest), len(data))
		}
		nbr := bufio.NewReader(bytes.NewReader(append([]byte(head), data...)))
		req, err := http.ReadRequest(nbr)
		if err != nil {
			return
		}
		want, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		wantRest, _ := io.ReadAll(nbr)
		if !bytes.Equal(got, want) || !bytes.Equal(rest, wantRest) {
			t.Fatalf("disagree with net/http: body %q vs %q, rest %q vs %q", got, want, rest, wantRest)
		}
	})
}

// FuzzReadResponseHead: the upstream response parser of the direct exchange
// never panics, and whatever it accepts has a valid status and one framing.
func FuzzReadResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), false)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 1, 1\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		var buf []byte
		resp, err := readResponseHead(bufio.NewReader(bytes.NewReader(data)), method, &buf)
		if err != nil {
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 {
			t.Fatalf("status %d accepted", resp.StatusCode)
		}
		if resp.TransferEncoding != nil && len(resp.Header["Content-Length"]) > 0 {
			t.Fatalf("both framings accepted")
		}
		if resp.TransferEncoding != nil && !bodyAllowed(method, resp.StatusCode) {
			t.Fatalf("chunked framing on a response without body")
		}
	})
}
