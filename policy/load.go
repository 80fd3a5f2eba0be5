package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/syncgate/syncgate/internal/yamlerr"
)

// maxPolicySize bounds a policy file; a real one is a few kilobytes.
const maxPolicySize = 16 << 20

// Error is one problem in a policy file, with where it is.
type Error struct {
	File  string
	Line  int    // 0 when unknown (a Policy built in code)
	Field string // e.g. "destinations[0].rules[1].paths[0]"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("policy")
	}
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one policy file, in file order.
// Load, Parse and Compile return it (use errors.As) so that `policy lint`
// can show them all at once.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and parses a policy file. It does not read CA bundles; Compile
// does.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", path, err)
	}
	if len(data) > maxPolicySize {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("file larger than %d bytes", maxPolicySize)}}
	}
	return Parse(data, path)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Parse decodes a policy strictly (unknown fields are errors) and validates
// everything that does not need other files: references, CIDRs, globs,
// methods, path patterns, pins, TLS versions. file names the policy in
// errors; File is set to it and Dir to its directory, against which
// relative CA bundle paths resolve.
func Parse(data []byte, file string) (*Policy, error) {
	p := &Policy{File: file, Dir: filepath.Dir(file)}
	if file == "" {
		p.Dir = "."
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{File: file, Msg: "empty policy"}}
		}
		return nil, yamlErrors(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, yamlErrors(file, err)
		}
		return nil, ErrorList{{File: file, Line: line, Msg: "more than one YAML document"}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(file, err)
	}
	p.lines = map[string]int{}
	indexLines(&root, "", p.lines)
	if _, errs := compile(p, false); len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

func yamlErrors(file string, err error) error {
	err = yamlerr.Scrub(err) // a secret in the wrong field is never echoed
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out ErrorList
	for _, m := range msgs {
		e := &Error{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			e.Line, _ = strconv.Atoi(sm[1])
			e.Msg = sm[2]
		}
		out = append(out, e)
	}
	return out
}

// indexLines records the line of every node under a dotted field path
// ("destinations[0].tls.ca_bundle"), so that validation can point at the
// exact line of a bad value.
func indexLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, out)
		}
		return
	}
	if _, seen := out[path]; !seen {
		out[path] = n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			out[child] = k.Line
			indexLines(v, child, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			indexLines(c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// line finds the line of field, or of its nearest recorded parent.
func (p *Policy) line(field string) int {
	if p.lines == nil {
		return 0
	}
	for f := field; f != ""; {
		if l, ok := p.lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}
