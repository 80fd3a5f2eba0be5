package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http/httputil"

	"golang.org/x/net/http/httpguts"
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

// errBadBody: the client's request body was malformed or cut short. It is
// the client's fault (400), never an upstream failure.
var errBadBody = errors.New("malformed or incomplete request body")

// chunkedBody decodes a chunked request body and then reads and discards the
// trailer section (RFC 9112 §7.1.2), bounded by maxTrailer bytes, so that
// trailer fields are never read as the next request on the connection.
type chunkedBody struct {
	br         *bufio.Reader
	cr         io.Reader
	maxTrailer int
	err        error // sticky
}

func newChunkedBody(br *bufio.Reader, maxTrailer int) *chunkedBody {
	return &chunkedBody{br: br, cr: httputil.NewChunkedReader(br), maxTrailer: maxTrailer}
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.cr.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if terr := readTrailer(c.br, c.maxTrailer); terr != nil {
			c.err = terr
		} else {
			c.err = io.EOF
		}
	default:
		c.err = fmt.Errorf("%w: %v", errBadBody, err)
	}
	if n > 0 && c.err != nil && !errors.Is(c.err, io.EOF) {
		// Report the failure now: these bytes belong to a bad body.
		return 0, c.err
	}
	return n, c.err
}

// readTrailer reads the trailer section after the last chunk: field lines,
// each with CRLF, ending with an empty line. Fields are validated like
// header fields and dropped (none is forwarded).
func readTrailer(br *bufio.Reader, max int) error {
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if errors.Is(err, bufio.ErrBufferFull) {
			// A field line longer than the read buffer: collect it.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && total <= max {
				line, err = br.ReadSlice('\n')
				total += len(line)
				long = append(long, line...)
			}
			line = long
		}
		if total > max {
			return errTrailerTooLarge
		}
		if err != nil {
			return fmt.Errorf("%w: trailer section: %v", errBadBody, err)
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return fmt.Errorf("%w: bare LF in trailer section", errBadBody)
		}
		l := line[:len(line)-2]
		if len(l) == 0 {
			return nil
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || !httpguts.ValidHeaderFieldName(string(l[:colon])) ||
			!httpguts.ValidHeaderFieldValue(string(bytes.Trim(l[colon+1:], " \t"))) {
			return fmt.Errorf("%w: malformed trailer field", errBadBody)
		}
	}
}

// errTrailerTooLarge: the trailer section exceeded max_header_bytes (431).
var errTrailerTooLarge = fmt.Errorf("%w: trailer section too large", errBadBody)
