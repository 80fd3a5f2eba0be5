package main

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/sync/engine"
	"github.com/syncgate/syncgate/sync/model"
)

// seedUser gives a user c contacts and e events, half on each side.
func seedUser(tb testing.TB, st *demoStack, user string, c, e int) {
	tb.Helper()
	base := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	for i := 0; i < c; i++ {
		email := fmt.Sprintf("b%05d.%s", i, user)
		var err error
		if i%2 == 0 {
			_, err = st.set.Salesforce.Seed(user, "Contact", map[string]any{"FirstName": "B", "LastName": fmt.Sprintf("Crm%05d", i), "Email": email, "Title": "Buyer"})
		} else {
			_, err = st.set.Microsoft.AddContact(user, "", map[string]any{"givenName": "B", "surname": fmt.Sprintf("Mail%05d", i),
				"emailAddresses": []any{map[string]any{"address": email}}, "jobTitle": "Buyer"})
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	for i := 0; i < e; i++ {
		start := base.Add(time.Duration(i) * 2 * time.Hour)
		subj := fmt.Sprintf("bench event %05d", i)
		var err error
		if i%2 == 0 {
			_, err = st.set.Salesforce.Seed(user, "Event", map[string]any{"Subject": subj, "StartDateTime": start.Format(time.RFC3339),
				"EndDateTime": start.Add(time.Hour).Format(time.RFC3339), "DurationInMinutes": 60})
		} else {
			_, err = st.set.Microsoft.AddEvent(user, map[string]any{"subject": subj,
				"start": map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
				"end":   map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func gatewayCalls(tb testing.TB, st *demoStack, client string) int {
	tb.Helper()
	files, _ := audit.Files(st.cfg.path(st.cfg.Audit.Path))
	n := 0
	if err := audit.Query(context.Background(), files, audit.Filter{}, func(_ []byte, r *audit.Record) error {
		if r.Kind == audit.KindHTTP && r.Client != nil && r.Client.Name == client {
			n++
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkInitialSync: SYNCGATE_BENCH_USERS users × _CONTACTS contacts +
// _EVENTS events (half on each side) synced through a real gateway against
// the emulators. Reports items/s, gateway requests per item and the writes
// of a second pass (must be 0).
func BenchmarkInitialSync(b *testing.B) {
	nu, nc, ne := envInt("SYNCGATE_BENCH_USERS", 4), envInt("SYNCGATE_BENCH_CONTACTS", 200), envInt("SYNCGATE_BENCH_EVENTS", 100)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, cfg, rt := startSyncWorld(b, "alice@corp.example")
		users := prepareUsers(b, st, "bench", nu)
		var jobs []engine.Job
		for _, u := range users {
			seedUser(b, st, u, nc, ne)
			for _, j := range rt.jobs {
				if j.User == "alice@corp.example" {
					j.User = u
					jobs = append(jobs, j)
				}
			}
		}
		rt.jobs = jobs
		calls0 := gatewayCalls(b, st, "sync")
		b.StartTimer()
		start := time.Now()
		first := round(b, rt, cfg)
		el := time.Since(start)
		b.StopTimer()
		items := nu * (nc + ne)
		calls := gatewayCalls(b, st, "sync") - calls0
		second := writes(round(b, rt, cfg))
		if second != 0 {
			b.Fatalf("second pass wrote %d items", second)
		}
		if w := writes(first); w != nu*(nc+ne) {
			b.Fatalf("first pass wrote %d items, want %d (every item copied to the other side)", w, nu*(nc+ne))
		}
		b.ReportMetric(float64(items)/el.Seconds(), "items/s")
		b.ReportMetric(float64(calls)/float64(items), "gw-requests/item")
		b.ReportMetric(float64(second), "second-pass-writes")
		st.Close()
	}
}

// BenchmarkIncrementalPass: one changed contact, one pass for its user;
// reports the p50 and p99 of the pass latency.
func BenchmarkIncrementalPass(b *testing.B) {
	st, cfg, rt := startSyncWorld(b, "alice@corp.example")
	users := prepareUsers(b, st, "inc", 1)
	user := users[0]
	seedUser(b, st, user, envInt("SYNCGATE_BENCH_CONTACTS", 200), 0)
	var job engine.Job
	for _, j := range rt.jobs {
		if j.Kind == model.Contacts {
			job = j
		}
	}
	job.User = user
	rt.jobs = []engine.Job{job}
	round(b, rt, cfg)
	pairs, err := rt.store.Pairs(context.Background(), user, model.Contacts)
	if err != nil || len(pairs) == 0 {
		b.Fatal("no pairs", err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := pairs[i%len(pairs)]
		if _, err := st.set.Microsoft.UpdateContact(user, p.MailID, map[string]any{"jobTitle": fmt.Sprintf("T%d", i)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		r, err := rt.eng.Run(context.Background(), job)
		lat = append(lat, time.Since(t0))
		if err != nil || r.Updated != 1 {
			b.Fatalf("pass: %+v %v", r, err)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
