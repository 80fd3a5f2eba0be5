package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	return db
}

func TestStartGivesSeparateEmptyDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := open(t, Start(t)), open(t, Start(t))
	if _, err := a.ExecContext(ctx, `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a table created in one database is visible in the other")
	}
	var enc, who string
	if err := a.QueryRowContext(ctx, `SELECT current_setting('server_encoding'), current_user`).Scan(&enc, &who); err != nil {
		t.Fatal(err)
	}
	if enc != "UTF8" || who != superuser {
		t.Errorf("encoding %s, user %s; want UTF8, %s", enc, who, superuser)
	}
}

// The server must not run as root (PostgreSQL refuses; when it does start
// it is because the helper switched users).
func TestServerRunsUnprivileged(t *testing.T) {
	db := open(t, Start(t))
	var pid int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read the backend's /proc status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			if f[1] == "0" {
				t.Errorf("backend %d runs as root", pid)
			}
			return
		}
	}
	t.Errorf("no Uid line in /proc/%d/status", pid)
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		db := open(t, Start(t))
		if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the drop must not depend on the test
		// closing its pool.
	})
	db := open(t, Start(t))
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Errorf("database %q of a finished test still exists (%d)", name, n)
	}
}

// Without Main every Start has its own server, gone with its directory
// when the test ends.
func TestPrivateServerStoppedAfterTest(t *testing.T) {
	sharedMode.Store(false)
	defer sharedMode.Store(true)
	var sock string
	t.Run("inner", func(t *testing.T) {
		dsn := Start(t)
		open(t, dsn)
		i := strings.Index(dsn, "host='")
		sock, _, _ = strings.Cut(dsn[i+len("host='"):], "'")
		if sharedSrv != nil && sock == sharedSrv.sock {
			t.Fatal("got the shared server")
		}
	})
	if sock == "" {
		t.Fatal("no socket directory in the DSN")
	}
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("server directory %s still there after the test (%v)", filepath.Dir(sock), err)
	}
}

// fakeTB records what missing asks of a test instead of ending it.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skipf(format string, args ...any)  { f.skipped = fmt.Sprintf(format, args...) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }
func (f *fakeTB) Name() string                      { return "fake" }

func TestMissingBinaries(t *testing.T) {
	old := libGlob
	libGlob = filepath.Join(t.TempDir(), "nothing", "*", "bin")
	defer func() { libGlob = old }()
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		name, ci, require string
		wantFail          bool
	}{
		{"local", "", "", false},
		{"ci", "true", "", true},
		{"ci false", "false", "", false},
		{"required", "", "1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv("SYNCGATE_REQUIRE_POSTGRES", tc.require)
			f := &fakeTB{TB: t}
			if dsn := Start(f); dsn != "" {
				t.Fatalf("Start returned %q without binaries", dsn)
			}
			got := f.skipped
			if tc.wantFail {
				got = f.failed
			}
			if !strings.Contains(got, "apt-get install -y postgresql") {
				t.Errorf("skipped %q, failed %q; want the install command in the %s message",
					f.skipped, f.failed, map[bool]string{true: "failure", false: "skip"}[tc.wantFail])
			}
			if (f.failed != "") != tc.wantFail {
				t.Errorf("failed = %q, want failure %v", f.failed, tc.wantFail)
			}
		})
	}
}

func TestFindBinPrefersNewestLibDir(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9", "15", "13"} {
		d := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{"initdb", "postgres", "pg_ctl"} {
			if err := os.WriteFile(filepath.Join(d, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := libGlob
	libGlob = filepath.Join(root, "*", "bin")
	defer func() { libGlob = old }()
	t.Setenv("PATH", t.TempDir())
	got, err := findBin()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin"); got != want {
		t.Errorf("findBin = %s, want %s", got, want)
	}
}

func TestDBName(t *testing.T) {
	n := dbName("TestSomething/with spaces-and-Ünïcode/" + strings.Repeat("x", 100))
	if len(n) > 63 {
		t.Errorf("%q is %d bytes", n, len(n))
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			t.Errorf("%q has %q", n, r)
		}
	}
	if dbName("x") == dbName("x") {
		t.Error("two databases of the same test got the same name")
	}
}
