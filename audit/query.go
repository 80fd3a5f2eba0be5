package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Filter selects records. Empty fields match everything; a list matches
// when any of its values matches.
type Filter struct {
	Since, Until time.Time // Since inclusive, Until exclusive
	Kinds        []string
	Decisions    []string // "allow" | "deny" (records without a decision match neither)
	Clients      []string
	Subjects     []string
	Destinations []string
	Hosts        []string
	Statuses     []int
	Rules        []string
}

// ParseTime accepts RFC 3339 or a duration before now ("24h", "90m").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-02T15:04:05Z), a date, or a duration such as 24h", s)
}

func anyOf(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// DecisionOf names a record's decision: "allow", "deny", or "" when the
// record carries none.
func DecisionOf(r *Record) string {
	if r.Decision == nil {
		return ""
	}
	if r.Decision.Allow {
		return "allow"
	}
	return "deny"
}

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if !anyOf(f.Kinds, r.Kind) || !anyOf(f.Subjects, r.Subject) {
		return false
	}
	if len(f.Decisions) > 0 && !anyOf(f.Decisions, DecisionOf(r)) {
		return false
	}
	if len(f.Clients) > 0 && (r.Client == nil || !anyOf(f.Clients, r.Client.Name)) {
		return false
	}
	if len(f.Destinations) > 0 && (r.Decision == nil || !anyOf(f.Destinations, r.Decision.Destination)) {
		return false
	}
	if len(f.Rules) > 0 && (r.Decision == nil || !anyOf(f.Rules, r.Decision.Rule)) {
		return false
	}
	if len(f.Hosts) > 0 && (r.Request == nil || !anyOf(f.Hosts, r.Request.Host)) {
		return false
	}
	if len(f.Statuses) > 0 {
		if r.Response == nil {
			return false
		}
		ok := false
		for _, s := range f.Statuses {
			ok = ok || s == r.Response.Status
		}
		if !ok {
			return false
		}
	}
	return true
}

// Query streams the records of files (plain or gzipped, in the order given)
// that match f to fn, with the raw line (without newline). A line that is
// not a record (a torn tail) is skipped; use Verify to judge integrity.
func Query(ctx context.Context, files []string, f Filter, fn func(line []byte, r *Record) error) error {
	for _, name := range files {
		if err := queryFile(ctx, name, &f, fn); err != nil {
			return err
		}
	}
	return nil
}

func queryFile(ctx context.Context, name string, f *Filter, fn func([]byte, *Record) error) error {
	rc, err := openLog(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := newLineReader(rc)
	for n := 0; ; n++ {
		line, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", name, err)
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if line[len(line)-1] != '\n' {
			continue
		}
		line = line[:len(line)-1]
		var r Record
		if json.Unmarshal(line, &r) != nil {
			continue
		}
		if !f.Match(&r) {
			continue
		}
		if err := fn(line, &r); err != nil {
			return err
		}
	}
}

// TableColumns are the columns of the table and CSV query formats.
var TableColumns = []string{"time", "seq", "kind", "client", "subject", "decision", "destination", "rule", "method", "host", "path", "status", "duration_ms", "reason"}

// Row flattens r into TableColumns.
func Row(r *Record) []string {
	row := make([]string, len(TableColumns))
	row[0] = formatTime(r.Time)
	row[1] = strconv.FormatUint(r.Seq, 10)
	row[2] = r.Kind
	if r.Client != nil {
		row[3] = r.Client.Name
	}
	row[4] = r.Subject
	row[5] = DecisionOf(r)
	if d := r.Decision; d != nil {
		row[6], row[7], row[13] = d.Destination, d.Rule, d.Reason
		if d.WouldDeny {
			row[5] = "allow (would deny)"
		}
	}
	if q := r.Request; q != nil {
		row[8], row[9], row[10] = q.Method, q.Host, q.Path
	}
	if s := r.Response; s != nil {
		row[11] = strconv.Itoa(s.Status)
	}
	row[12] = strconv.FormatFloat(r.DurationMS, 'f', -1, 64)
	if row[13] == "" && r.Upstream != nil && r.Upstream.Error != "" {
		row[13] = "upstream: " + r.Upstream.Error
	}
	if row[13] == "" && r.Detail != nil {
		row[13] = r.Detail["event"]
	}
	return row
}

// Summary counts records for a periodic review.
type Summary struct {
	From          time.Time      `json:"from,omitzero"`
	To            time.Time      `json:"to,omitzero"`
	Records       int            `json:"records"`
	ByKind        map[string]int `json:"by_kind"`
	ByDecision    map[string]int `json:"by_decision"`
	ByDestination map[string]int `json:"by_destination"`
	ByClient      map[string]int `json:"by_client"`
	DenyReasons   map[string]int `json:"deny_reasons"`
	Denials       []Denial       `json:"denials"`
	// DenialsOmitted counts denials beyond the listing limit.
	DenialsOmitted int `json:"denials_omitted,omitempty"`
}

// Denial is one denied request in a summary.
type Denial struct {
	Time    time.Time `json:"time"`
	Seq     uint64    `json:"seq"`
	Client  string    `json:"client,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Method  string    `json:"method,omitempty"`
	Host    string    `json:"host,omitempty"`
	Path    string    `json:"path,omitempty"`
	Rule    string    `json:"rule,omitempty"`
	Reason  string    `json:"reason,omitempty"`
}

// Summarize counts the records of files matching f, listing at most
// maxDenials denials (0 = all).
func Summarize(ctx context.Context, files []string, f Filter, maxDenials int) (*Summary, error) {
	s := &Summary{ByKind: map[string]int{}, ByDecision: map[string]int{}, ByDestination: map[string]int{},
		ByClient: map[string]int{}, DenyReasons: map[string]int{}, Denials: []Denial{}}
	err := Query(ctx, files, f, func(_ []byte, r *Record) error {
		s.Records++
		if s.From.IsZero() || r.Time.Before(s.From) {
			s.From = r.Time
		}
		if r.Time.After(s.To) {
			s.To = r.Time
		}
		s.ByKind[r.Kind]++
		dec := DecisionOf(r)
		if dec == "" {
			return nil
		}
		s.ByDecision[dec]++
		if r.Decision.Destination != "" {
			s.ByDestination[r.Decision.Destination]++
		} else {
			s.ByDestination["(none)"]++
		}
		client := "(unidentified)"
		if r.Client != nil && r.Client.Name != "" {
			client = r.Client.Name
		}
		s.ByClient[client]++
		if dec == "deny" {
			s.DenyReasons[r.Decision.Reason]++
			if maxDenials > 0 && len(s.Denials) >= maxDenials {
				s.DenialsOmitted++
				return nil
			}
			d := Denial{Time: r.Time, Seq: r.Seq, Subject: r.Subject, Rule: r.Decision.Rule, Reason: r.Decision.Reason}
			if r.Client != nil {
				d.Client = r.Client.Name
			}
			if r.Request != nil {
				d.Method, d.Host, d.Path = r.Request.Method, r.Request.Host, r.Request.Path
			}
			s.Denials = append(s.Denials, d)
		}
		return nil
	})
	return s, err
}

// SortedCounts returns a count map's keys by descending count, then name.
func SortedCounts(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
