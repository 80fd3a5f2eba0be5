package proxy

import (
	"bufio"
	"io"
	"net/http/httputil"
)

// chunkedWriter frames a response body in chunks and writes the last-chunk
// and the empty trailer section on Close (httputil's writer leaves the final
// CRLF to the caller).
type chunkedWriter struct {
	cw io.WriteCloser
	bw *bufio.Writer
}

func newChunkedWriter(bw *bufio.Writer) io.WriteCloser {
	return &chunkedWriter{cw: httputil.NewChunkedWriter(bw), bw: bw}
}

func (c *chunkedWriter) Write(p []byte) (int, error) { return c.cw.Write(p) }

func (c *chunkedWriter) Close() error {
	if err := c.cw.Close(); err != nil {
		return err
	}
	_, err := c.bw.WriteString("\r\n")
	return err
}
