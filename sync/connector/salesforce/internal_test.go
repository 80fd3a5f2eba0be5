package salesforce

import (
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

func TestQuote(t *testing.T) {
	cases := map[string]string{
		"abc":             `'abc'`,
		"o'brien":         `'o\'brien'`,
		`back\slash`:      `'back\\slash'`,
		`"q"`:             `'\"q\"'`,
		"a\nb\r\tc\b\fd":  `'a\nb\r\tc\b\fd'`,
		"nul\x00bell\x07": `'nulbell'`,
		"Zoë 日本":          `'Zoë 日本'`,
		`\' OR Id != '`:   `'\\\' OR Id != \''`,
	}
	for in, want := range cases {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	st := &state{Kind: model.Events, Owner: "005000000000001AAA", Low: 1772441940, High: 1772442000123,
		Seen: map[string]int64{"00U000000000001AAA": 1772442000123}, WS: 1, WE: 2, At: time.Now().UnixMilli()}
	got, ok := decodeCursor(encodeCursor(st))
	if !ok || got.Kind != st.Kind || got.Owner != st.Owner || got.Low != st.Low || got.High != st.High ||
		got.Seen["00U000000000001AAA"] != st.Seen["00U000000000001AAA"] || got.WS != 1 || got.WE != 2 || got.At != st.At {
		t.Fatalf("round trip: %+v", got)
	}
}

// FuzzDecodeCursor: a stored cursor is outside input too (state store).
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(&state{Kind: model.Contacts, Owner: "005000000000001AAA", At: 1}))
	f.Add("sf1.e30")
	f.Add("sf1.!!")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := decodeCursor(s)
		if ok && (st == nil || st.At == 0 || st.Low < 0 || st.High < 0) {
			t.Fatalf("accepted %q as %+v", s, st)
		}
	})
}

func TestErrorCodeIsAToken(t *testing.T) {
	cases := map[string]string{
		`[{"message":"x","errorCode":"NOT_FOUND"}]`:               "NOT_FOUND",
		`[{"message":"x","errorCode":"alice@corp.example"}]`:      "",
		`{"error":"invalid_grant","error_description":"expired"}`: "invalid_grant",
		"Bad_OAuth_Token": "Bad_OAuth_Token",
		"<html>Server error for alice@corp.example</html>":                 "",
		`[{"message":"x","errorCode":"` + string(make([]byte, 80)) + `"}]`: "",
	}
	for body, want := range cases {
		if got, _ := errorCode([]byte(body)); got != want {
			t.Errorf("errorCode(%q) = %q, want %q", body, got, want)
		}
	}
}
