package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// quote renders s as a SOQL string literal, escaping as "Quoted String
// Escape Sequences" documents: backslash, both quotes and the control
// characters that have an escape. Other control characters cannot be
// written in a literal and are dropped (no key or account name has them).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f {
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// dateTime renders t as a SOQL dateTime literal (UTC, whole seconds: the
// documented form YYYY-MM-DDThh:mm:ssZ).
func dateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// Salesforce's wire forms of dateTime values.
var timeLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z0700"}

func parseTime(v string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// wireTime renders an instant as Salesforce writes dateTime values.
func wireTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// query runs a SOQL statement (queryAll when all: deleted records in the
// Recycle Bin too) and follows nextRecordsUrl to the last page. Any failed
// page fails the whole read: a partial list is never returned.
func (c *Connector) query(ctx context.Context, op, soql string, all bool) ([]record, error) {
	res := "/query"
	if all {
		res = "/queryAll"
	}
	ref := c.api + res + "?" + url.Values{"q": {soql}}.Encode()
	var hdr http.Header
	if c.batch > 0 {
		hdr = http.Header{"Sforce-Query-Options": {"batchSize=" + strconv.Itoa(c.batch)}}
	}
	var out []record
	for page := 0; ; page++ {
		rep, err := c.send(ctx, op, http.MethodGet, ref, nil, hdr)
		if err != nil {
			return nil, pageErr(page, err)
		}
		if rep.status != http.StatusOK {
			return nil, pageErr(page, fail(op, rep))
		}
		var p struct {
			Done           bool     `json:"done"`
			NextRecordsURL string   `json:"nextRecordsUrl"`
			Records        []record `json:"records"`
		}
		if err := decode(op, rep, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Records...)
		if p.Done {
			return out, nil
		}
		next, ok := c.nextPage(p.NextRecordsURL)
		if !ok || next == ref {
			return nil, fmt.Errorf("%s: page %d is not the last and has no usable nextRecordsUrl", op, page+1)
		}
		ref = next
	}
}

// pageErr notes which page failed when it was not the first; the sentinel
// and typed errors stay reachable through %w.
func pageErr(page int, err error) error {
	if page == 0 {
		return err
	}
	return fmt.Errorf("query page %d (earlier pages discarded): %w", page+1, err)
}

// nextPage accepts a nextRecordsUrl only as a path on this instance's
// query resources.
func (c *Connector) nextPage(next string) (string, bool) {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Fragment != "" {
		return "", false
	}
	if !strings.HasPrefix(u.Path, "/services/data/") || strings.Contains(u.Path, "..") ||
		!(strings.Contains(u.Path, "/query/") || strings.Contains(u.Path, "/queryAll/")) {
		return "", false
	}
	return next, true
}
