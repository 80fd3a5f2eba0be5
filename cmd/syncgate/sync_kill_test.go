package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/sync/engine"
	syncgw "github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncSurvivesKill9 kills a real `syncgate sync --once` process with
// SIGKILL again and again during an initial sync through the gateway, then
// lets one run finish: every item is paired exactly once on both sides and
// no copy is duplicated. Kills are triggered by state (the sync audit log
// growing), not by timers. SYNCGATE_KILL_CONTACTS/_EVENTS/_KILLS scale it
// (the figure: 500 contacts, 200 events, 20 kills).
func TestSyncSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	nContacts, nEvents, kills := envInt("SYNCGATE_KILL_CONTACTS", 120), envInt("SYNCGATE_KILL_EVENTS", 40), envInt("SYNCGATE_KILL_KILLS", 20)
	const alice = "alice@corp.example"
	ctx := context.Background()
	st, err := startDemoStack(ctx, filepath.Join(t.TempDir(), "demo"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	// Half the contacts in the CRM, half in the mailbox; events likewise.
	base := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	for i := 0; i < nContacts; i++ {
		email := fmt.Sprintf("kill%04d@example.net", i)
		if i%2 == 0 {
			if _, err := st.set.Salesforce.Seed(alice, "Contact", map[string]any{"FirstName": "K", "LastName": fmt.Sprintf("Crm%04d", i), "Email": email}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := st.set.Microsoft.AddContact(alice, "", map[string]any{"givenName": "K", "surname": fmt.Sprintf("Mail%04d", i),
			"emailAddresses": []any{map[string]any{"address": email}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < nEvents; i++ {
		start := base.Add(time.Duration(i) * 90 * time.Minute)
		subj := fmt.Sprintf("kill event %04d", i)
		if i%2 == 0 {
			if _, err := st.set.Salesforce.Seed(alice, "Event", map[string]any{"Subject": subj, "StartDateTime": start.Format(time.RFC3339),
				"EndDateTime": start.Add(time.Hour).Format(time.RFC3339), "DurationInMinutes": 60}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := st.set.Microsoft.AddEvent(alice, map[string]any{"subject": subj,
			"start": map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":   map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}}); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath, err := st.writeSyncConfig(alice)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "syncgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	auditPath := filepath.Join(st.dir, "sync-audit.jsonl")
	killed := 0
	for i := 0; i < kills; i++ {
		cmd := exec.Command(bin, "sync", "--config", cfgPath, "--once")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		before := countLines(auditPath)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill after a varying number of new item actions.
		target := before + 1 + i%7
		exited := false
		for !exited && countLines(auditPath) < target {
			select {
			case <-done:
				exited = true
			case <-time.After(5 * time.Millisecond):
			}
		}
		if exited {
			break // the sync finished before this kill: nothing left to interrupt
		}
		cmd.Process.Kill()
		<-done
		killed++
	}
	t.Logf("killed %d times", killed)
	if killed == 0 {
		t.Fatal("the sync finished before the first kill; nothing was tested")
	}
	// A clean run to the end, then the check.
	cfg, err := loadSyncConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := buildSync(ctx, cfg, zerolog.Nop(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	round(t, rt, cfg)
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("a pass after recovery wrote %d items", w)
	}
	for _, k := range []model.Kind{model.Contacts, model.Events} {
		pairs, err := rt.store.Pairs(ctx, alice, k)
		if err != nil {
			t.Fatal(err)
		}
		crmSeen, mailSeen := map[string]int{}, map[string]int{}
		for _, p := range pairs {
			crmSeen[p.CRMID]++
			mailSeen[p.MailID]++
		}
		crmItems := liveItems(t, rt, alice, k, model.CRM)
		mailItems := liveItems(t, rt, alice, k, model.Mail)
		want := nContacts
		if k == model.Events {
			want = nEvents
		}
		countKill := func(items map[string]*model.Item) int {
			n := 0
			for _, it := range items {
				if (it.Contact != nil && strings.HasPrefix(it.Contact.Email, "kill")) || (it.Event != nil && strings.HasPrefix(it.Event.Subject, "kill event")) {
					n++
				}
			}
			return n
		}
		if c, m := countKill(crmItems), countKill(mailItems); c != want || m != want {
			t.Errorf("%s: crm has %d, mailbox %d, want %d each (duplicates or losses)", k, c, m, want)
		}
		for id := range crmItems {
			if crmSeen[id] != 1 {
				t.Errorf("%s: crm item paired %d times", k, crmSeen[id])
			}
		}
		for id := range mailItems {
			if mailSeen[id] != 1 {
				t.Errorf("%s: mailbox item paired %d times", k, mailSeen[id])
			}
		}
	}
}

func liveItems(t *testing.T, rt *syncRuntime, user string, k model.Kind, side model.Side) map[string]*model.Item {
	t.Helper()
	j := rt.jobs[0]
	for _, jj := range rt.jobs {
		if jj.Kind == k {
			j = jj
		}
	}
	c := j.CRM
	if side == model.Mail {
		c = j.Mail
	}
	ctx := context.Background()
	sc := engine.ScopeOf(j, time.Now())
	ctx = syncgw.WithSubject(ctx, user)
	ch, err := c.Changes(ctx, sc, "")
	if err != nil {
		t.Fatalf("list %s %s: %v", side, k, err)
	}
	out := map[string]*model.Item{}
	for _, it := range ch.Items {
		out[it.ID] = it
	}
	return out
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestSyncSIGTERMFinishesTheItemInFlight: SIGTERM during a sync stops the
// engine after the item in flight: it exits 0 and leaves no open intent.
func TestSyncSIGTERMFinishesTheItemInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const alice = "alice@corp.example"
	ctx := context.Background()
	st, err := startDemoStack(ctx, filepath.Join(t.TempDir(), "demo"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	seedUser(t, st, alice, 200, 0)
	cfgPath, err := st.writeSyncConfig(alice)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "syncgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "sync", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	auditPath := filepath.Join(st.dir, "sync-audit.jsonl")
	for countLines(auditPath) < 20 {
		select {
		case err := <-done:
			t.Fatalf("sync exited early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("sync after SIGTERM: %v, want exit 0", err)
	}
	cfg, err := loadSyncConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	store, err := openState(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, k := range []model.Kind{model.Contacts, model.Events} {
		in, err := store.Intents(ctx, alice, k)
		if err != nil || len(in) != 0 {
			t.Fatalf("%s: %d open intents after SIGTERM (%v)", k, len(in), err)
		}
	}
}
