package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Rotated files sit beside the active file and are named after it and the
// seq of their first record, zero-padded so that names sort in chain order:
// audit.jsonl.00000000000000000001[.gz].
const seqDigits = 20

func rotatedName(path string, firstSeq uint64) string {
	return fmt.Sprintf("%s.%0*d", path, seqDigits, firstSeq)
}

// parseRotated reports whether name is a rotated sibling of path.
func parseRotated(path, name string) (seq uint64, gz, ok bool) {
	rest, found := strings.CutPrefix(name, path+".")
	if !found {
		return 0, false, false
	}
	rest, gz = strings.CutSuffix(rest, ".gz")
	if len(rest) != seqDigits {
		return 0, false, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, gz, true
}

type rotatedFile struct {
	name string
	seq  uint64
	gz   bool
}

// listRotated returns the rotated siblings of path in chain order. When a
// plain and a gzipped copy of the same file exist (a crash between gzip and
// removing the plain one), the plain one is listed.
func listRotated(path string) ([]rotatedFile, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, fmt.Errorf("audit: list rotated files of %s: %w", path, err)
	}
	bySeq := map[uint64]rotatedFile{}
	for _, m := range matches {
		seq, gz, ok := parseRotated(path, m)
		if !ok {
			continue
		}
		if prev, dup := bySeq[seq]; dup && !prev.gz {
			continue
		}
		bySeq[seq] = rotatedFile{name: m, seq: seq, gz: gz}
	}
	out := make([]rotatedFile, 0, len(bySeq))
	for _, r := range bySeq {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// Files returns the log that path is the active file of: its rotated
// siblings in chain order, then path itself if it exists. Use it to turn the
// configured audit path into the file list Verify and Query expect.
func Files(path string) ([]string, error) {
	rot, err := listRotated(path)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rot)+1)
	for _, r := range rot {
		out = append(out, r.name)
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return out, nil
}

// openLog opens a log file for reading, transparently un-gzipping it when it
// starts with the gzip magic bytes.
func openLog(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	br := bufio.NewReaderSize(f, 256<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %s: %w", name, err)
		}
		return &gzReadCloser{zr: zr, f: f}, nil
	}
	return &plainReadCloser{Reader: br, f: f}, nil
}

type gzReadCloser struct {
	zr *gzip.Reader
	f  *os.File
}

func (g *gzReadCloser) Read(p []byte) (int, error) { return g.zr.Read(p) }
func (g *gzReadCloser) Close() error {
	g.zr.Close()
	return g.f.Close()
}

type plainReadCloser struct {
	*bufio.Reader
	f *os.File
}

func (p *plainReadCloser) Close() error { return p.f.Close() }

// lineReader yields the lines of r, each with its trailing newline when it
// has one; only the last line of a stream can lack it.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 256<<10)}
}

// next returns the next line (valid until the following call) or io.EOF.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		l.buf = append(l.buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(l.buf) > 0 {
			return l.buf, nil
		}
		if err != nil {
			return nil, err
		}
		return l.buf, nil
	}
}

// firstSeq reads the seq of the first record of a log file (0 if none can
// be read), for ordering files given on a command line.
func firstSeq(name string) uint64 {
	rc, err := openLog(name)
	if err != nil {
		return 0
	}
	defer rc.Close()
	line, err := newLineReader(rc).next()
	if err != nil {
		return 0
	}
	var v struct {
		Seq uint64 `json:"seq"`
	}
	if json.Unmarshal(bytes.TrimSpace(line), &v) != nil {
		return 0
	}
	return v.Seq
}

// SortFiles orders log files by the seq of their first record, so that a
// shell glob (which puts audit.jsonl before audit.jsonl.000…1) still
// verifies in chain order. Files whose first record cannot be read keep
// their relative order at the end.
func SortFiles(names []string) []string {
	type fs struct {
		name string
		seq  uint64
	}
	tmp := make([]fs, len(names))
	for i, n := range names {
		tmp[i] = fs{n, firstSeq(n)}
	}
	sort.SliceStable(tmp, func(i, j int) bool {
		a, b := tmp[i].seq, tmp[j].seq
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	out := make([]string, len(tmp))
	for i, t := range tmp {
		out[i] = t.name
	}
	return out
}

// ExpandFiles replaces each argument that is an active log with rotated
// siblings by those siblings and itself, drops duplicates and orders the
// result by first seq.
func ExpandFiles(args []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if c := filepath.Clean(n); !seen[c] {
			seen[c] = true
			out = append(out, n)
		}
	}
	for _, a := range args {
		if _, _, isRot := parseRotated(strings.TrimSuffix(a, filepath.Ext(a)), a); isRot {
			add(a)
			continue
		}
		rot, err := listRotated(a)
		if err != nil {
			return nil, err
		}
		for _, r := range rot {
			add(r.name)
		}
		add(a)
	}
	return SortFiles(out), nil
}
