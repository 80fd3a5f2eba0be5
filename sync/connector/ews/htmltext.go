package ews

import (
	"strings"

	"golang.org/x/net/html"
)

// htmlToText turns an HTML item body into the plain text syncgate syncs.
// It is deterministic, so the same HTML always hashes the same and a body
// nobody touched never looks changed: text nodes with runs of white space
// collapsed (as a browser shows them), a line break for <br> and at the end
// of block elements, head/style/script dropped, entities decoded, each line
// trimmed, at most one empty line in a row, none at either end.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0 // depth inside head, style, script, title
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyLines(b.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			b.WriteString(collapseSpace(string(z.Text())))
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch tag {
			case "head", "style", "script", "title":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			case "br":
				b.WriteByte('\n')
				continue
			}
			if tt != html.StartTagToken && blockTags[tag] {
				b.WriteByte('\n')
			} else if tt == html.StartTagToken && blockTags[tag] && b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
				b.WriteByte('\n')
			}
		}
	}
}

var blockTags = map[string]bool{
	"p": true, "div": true, "li": true, "tr": true, "table": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "pre": true,
	"blockquote": true, "hr": true, "body": true, "section": true, "article": true,
}

func collapseSpace(s string) string {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// tidyLines trims every line, keeps at most one empty line in a row and
// none at the start or end.
func tidyLines(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	blank := true // suppress leading blank lines
	for _, l := range lines {
		l = strings.TrimSpace(strings.ReplaceAll(l, "\u00a0", " "))
		if l == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, l)
		blank = false
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}
