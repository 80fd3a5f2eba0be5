package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/internal/pgtest"
	"github.com/syncgate/syncgate/sync/engine"
	"github.com/syncgate/syncgate/sync/model"
)

// startSyncWorld starts the demo world (seeded emulators, the gateway with
// the encrypted store) and a sync runtime for users, configured the way an
// operator would: a config file holding no credential.
func startSyncWorld(t testing.TB, users ...string) (*demoStack, *syncConfig, *syncRuntime) {
	t.Helper()
	return startSyncWorldOn(t, "sqlite", users...)
}

// startSyncWorldOn is startSyncWorld on a chosen state store: "sqlite" (the
// config's default) or "postgres" (a real server from pgtest, its DSN in
// the environment as an operator would pass it).
func startSyncWorldOn(t testing.TB, store string, users ...string) (*demoStack, *syncConfig, *syncRuntime) {
	t.Helper()
	ctx := context.Background()
	st, err := startDemoStack(ctx, filepath.Join(t.TempDir(), "demo"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	path, err := st.writeSyncConfig(users...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadSyncConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if store == "postgres" {
		t.Setenv("SYNCGATE_TEST_STATE_DSN", pgtest.Start(t))
		cfg.State.SQLite = nil
		cfg.State.Postgres = &struct {
			DSNEnv string `yaml:"dsn_env"`
		}{DSNEnv: "SYNCGATE_TEST_STATE_DSN"}
	}
	rt, err := buildSync(ctx, cfg, zerolog.Nop(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return st, cfg, rt
}

func round(t testing.TB, rt *syncRuntime, cfg *syncConfig) []engine.Outcome {
	t.Helper()
	res := (&schedulerFor{rt, cfg}).once(context.Background())
	for _, o := range res {
		if o.Err != nil {
			t.Fatalf("%s %s: %v", o.Job.User, o.Job.Kind, o.Err)
		}
	}
	return res
}

func writes(res []engine.Outcome) int {
	n := 0
	for _, o := range res {
		n += o.Result.Writes()
	}
	return n
}

// TestSyncThroughGateway: the engine syncs Salesforce and Graph through a
// real gateway; a second pass writes nothing; every call it made is in the
// gateway's audit log under the user it acted for, joined by request id.
func TestSyncThroughGateway(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) { testSyncThroughGateway(t, store) })
	}
}

func testSyncThroughGateway(t *testing.T, store string) {
	const alice = "alice@corp.example"
	st, cfg, rt := startSyncWorldOn(t, store, alice)
	first := round(t, rt, cfg)
	if writes(first) == 0 {
		t.Fatalf("first pass moved nothing: %+v", first)
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("second pass with no outside change wrote %d items", w)
	}
	for _, k := range []model.Kind{model.Contacts, model.Events} {
		pairs, err := rt.store.Pairs(context.Background(), alice, k)
		if err != nil || len(pairs) == 0 {
			t.Fatalf("%s: no pairs (%v)", k, err)
		}
	}

	// Join the two audit logs.
	gwCalls := map[string]*audit.Record{}
	gwFiles, _ := audit.Files(st.cfg.path(st.cfg.Audit.Path))
	if err := audit.Query(context.Background(), gwFiles, audit.Filter{}, func(_ []byte, r *audit.Record) error {
		gwCalls[r.ID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	syncFiles, _ := audit.Files(cfg.path(cfg.Audit.Path))
	res, err := audit.Verify(context.Background(), syncFiles, audit.VerifyOptions{})
	if err != nil || !res.Intact {
		t.Fatalf("sync audit does not verify: %v %+v", err, res)
	}
	joined := 0
	if err := audit.Query(context.Background(), syncFiles, audit.Filter{}, func(_ []byte, r *audit.Record) error {
		if r.Kind != audit.KindSync || r.Subject != alice {
			t.Errorf("sync record %d: kind %q subject %q", r.Seq, r.Kind, r.Subject)
		}
		for _, id := range strings.Split(r.Detail["request_ids"], ",") {
			if id == "" {
				continue
			}
			g := gwCalls[id]
			if g == nil {
				t.Errorf("sync record %d names gateway request %s, which the gateway did not record", r.Seq, id)
				continue
			}
			if g.Subject != alice || g.Client == nil || g.Client.Name != "sync" || g.Decision == nil || !g.Decision.Allow {
				t.Errorf("gateway record %s: subject %q client %+v decision %+v", id, g.Subject, g.Client, g.Decision)
			}
			joined++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if joined == 0 {
		t.Fatal("no sync action could be joined with a gateway call")
	}
	// Every gateway call from the engine acted as alice and was allowed.
	for id, g := range gwCalls {
		if g.Client != nil && g.Client.Name == "sync" && g.Kind == audit.KindHTTP && (g.Decision == nil || !g.Decision.Allow) {
			t.Errorf("the engine made a call the policy denied: %s %s %s (%s)", id, g.Request.Method, g.Request.Path, g.Decision.Reason)
		}
	}
}

// TestSyncReachesNothingWithoutTheGateway: with the gateway stopped the
// engine reaches no service, fails the pass, and changes no state.
func TestSyncReachesNothingWithoutTheGateway(t *testing.T) {
	const alice = "alice@corp.example"
	st, cfg, rt := startSyncWorld(t, alice)
	st.gw.Close()
	res := (&schedulerFor{rt, cfg}).once(context.Background())
	for _, o := range res {
		if o.Err == nil {
			t.Fatalf("%s passed without the gateway", o.Job.Kind)
		}
		if o.Result.Writes() != 0 {
			t.Fatal("wrote without the gateway")
		}
	}
	pairs, _ := rt.store.Pairs(context.Background(), alice, model.Contacts)
	if len(pairs) != 0 {
		t.Fatal("state changed without the gateway")
	}
	rows, err := syncStatusJSON(context.Background(), rt.store, alice)
	if err != nil || len(rows) == 0 || rows[0]["last_error"] == "" {
		t.Fatalf("status does not show the failure: %v %v", rows, err)
	}
}

func TestSyncConfigRefusesSecrets(t *testing.T) {
	dir := t.TempDir()
	base := "gateway: {proxy: http://127.0.0.1:3128}\nsalesforce: {instance_url: https://x.my.salesforce.com}\nusers: [{user: a@corp.example}]\n"
	for _, tc := range []struct{ name, extra, want string }{
		{"token", "graph: {token: eyJhbGciOiJub25lIn0.e30.}\n", `"token"`},
		{"client secret", "salesforce_extra: {client_secret: hunter2}\n", `"client_secret"`},
		{"password", "state: {postgres: {password: hunter2}}\n", `"password"`},
		{"dsn", "state: {postgres: {dsn: postgres://u:hunter2@db/x}}\n", `"dsn"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(p, []byte(base+tc.extra), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadSyncConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "never holds") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "eyJ") {
				t.Fatalf("error echoes the secret: %v", err)
			}
		})
	}
	// A value in a field of the wrong type is not echoed either.
	p := filepath.Join(dir, "wrongtype.yaml")
	os.WriteFile(p, []byte(base+"workers: sk-live-abcdef\n"), 0o644)
	if _, err := loadSyncConfig(p); err == nil || strings.Contains(err.Error(), "sk-live") {
		t.Fatalf("err = %v", err)
	}
}

func TestSyncOnceExitCode(t *testing.T) {
	_, cfg, _ := startSyncWorld(t, "alice@corp.example")
	// A proxy that answers nothing: every pass fails, --once exits non-zero.
	cfg.Gateway.Proxy = "http://127.0.0.1:1"
	cfg.Gateway.CertFile, cfg.Gateway.KeyFile = "", ""
	cfg.Audit.Path = "other-sync-audit.jsonl"
	var out strings.Builder
	err := runSync(context.Background(), cfg, &out, io.Discard, true, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("runSync --once = %v, want exit code 1", err)
	}
}

// TestExampleSyncConfigLoads keeps examples/sync.yaml true to the loader.
func TestExampleSyncConfigLoads(t *testing.T) {
	cfg, err := loadSyncConfig(filepath.Join("..", "..", "examples", "sync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := cfg.settings(cfg.Users[1], model.Contacts)
	if err != nil || bob.Direction != engine.CRMToMail {
		t.Fatalf("bob: %+v %v", bob, err)
	}
	carol, err := cfg.settings(cfg.Users[2], model.Events)
	if err != nil || carol.Enabled {
		t.Fatalf("carol events: %+v %v", carol, err)
	}
}

// TestMain shares one PostgreSQL server (if a test asks for one) across the
// package's tests and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }
