package yamlerr

import (
	"errors"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Hidden replaces a value in a scrubbed message.
const Hidden = "(value hidden)"

var (
	// "cannot unmarshal !!str `VALUE` into int": the value may itself hold
	// backquotes, so everything up to the last "` into " goes.
	unmarshalValue = regexp.MustCompile("(cannot (?:un)?marshal (?:!!\\S+ )?)`.*` into ")
	// Any other backquoted or double-quoted span.
	quoted = regexp.MustCompile("`[^`]*`|\"(?:[^\"\\\\]|\\\\.)*\"")
)

// Message scrubs one message.
func Message(m string) string {
	m = unmarshalValue.ReplaceAllString(m, "${1}"+Hidden+" into ")
	return quoted.ReplaceAllString(m, Hidden)
}

// Scrub returns err with every value in its message hidden. A
// *yaml.TypeError stays one (with scrubbed lines), so callers can still
// report its lines one by one; nil stays nil.
func Scrub(err error) error {
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := &yaml.TypeError{Errors: make([]string, len(te.Errors))}
		for i, m := range te.Errors {
			out.Errors[i] = Message(m)
		}
		return out
	}
	return errors.New(Message(err.Error()))
}
