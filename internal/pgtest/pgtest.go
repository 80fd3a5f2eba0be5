package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
)

// InstallHint is the command that provides the binaries.
const InstallHint = "install postgresql: apt-get install -y postgresql"

// superuser is the database superuser initdb creates; auth is trust and
// the server listens only on its own socket directory.
const superuser = "postgres"

var (
	// libGlob is where Debian keeps each major version's server binaries
	// (they are not on PATH there). A variable for the tests.
	libGlob = "/usr/lib/postgresql/*/bin"

	sharedMode atomic.Bool
	sharedOnce sync.Once
	sharedSrv  *server
	sharedErr  error

	dbSeq atomic.Int64
)

// Main runs m with one PostgreSQL server shared by every Start of the test
// binary, stops it after the tests, and exits with their result. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	sharedMode.Store(true)
	code := m.Run()
	if sharedSrv != nil {
		sharedSrv.stop()
	}
	os.Exit(code)
}

// Start returns the DSN (key=value form, for pgx) of a new, empty database
// owned by a superuser, dropped when t ends. See the package doc for when
// the server is shared.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		missing(t, err)
		return ""
	}
	var srv *server
	if sharedMode.Load() {
		sharedOnce.Do(func() { sharedSrv, sharedErr = startServer(bin) })
		if sharedErr != nil {
			t.Fatalf("pgtest: %v", sharedErr)
		}
		srv = sharedSrv
	} else {
		srv, err = startServer(bin)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(srv.stop)
	}
	name := dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := srv.admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE: a pool the test forgot to close must not keep the
		// database (and the disk it uses) alive until the server stops.
		if _, err := srv.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return srv.dsn(name)
}

// missing skips t, or fails it where PostgreSQL is required.
func missing(t testing.TB, err error) {
	t.Helper()
	if required() {
		t.Fatalf("pgtest: %v; %s", err, InstallHint)
		return
	}
	t.Skipf("pgtest: %v; %s", err, InstallHint)
}

// required reports whether a missing PostgreSQL is a failure: in CI, or
// when asked for, a skipped store test would hide that nothing ran.
func required() bool {
	for _, k := range []string{"CI", "SYNCGATE_REQUIRE_POSTGRES"} {
		if v := os.Getenv(k); v != "" && v != "0" && !strings.EqualFold(v, "false") {
			return true
		}
	}
	return false
}

// findBin returns the directory holding initdb, postgres and pg_ctl: the
// one of initdb on PATH (symlinks resolved), else the newest
// /usr/lib/postgresql/N/bin.
func findBin() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	lib, _ := filepath.Glob(libGlob)
	sort.Slice(lib, func(i, j int) bool { return majorOf(lib[i]) > majorOf(lib[j]) })
	dirs = append(dirs, lib...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres, pg_ctl) not found on PATH or in " + libGlob)
}

// majorOf is N of /usr/lib/postgresql/N/bin (0 when not a number).
func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// dbName makes a database name from a test name: unique in the binary,
// readable in pg_database, within PostgreSQL's 63 bytes.
func dbName(test string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", dbSeq.Add(1))
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 63 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteDSN quotes a key=value DSN value.
func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// server is one running postmaster.
type server struct {
	bin  string
	base string // owned by the server's user; removed on stop
	data string
	sock string // unix socket directory
	log  string
	cred *syscall.Credential // nil: run as ourselves

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
	exitErr error

	admin    *sql.DB // connected to the "postgres" database
	stopOnce sync.Once
}

func (s *server) dsn(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=%s dbname=%s sslmode=disable", quoteDSN(s.sock), superuser, quoteDSN(db))
}

// startServer runs initdb and starts a postmaster; on error nothing is
// left running and the directory is removed.
func startServer(bin string) (_ *server, err error) {
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	root, err := tempRoot(cred)
	if err != nil {
		return nil, err
	}
	sweepStale(root)
	base, err := os.MkdirTemp(root, "syncgate-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{bin: bin, base: base, data: filepath.Join(base, "data"), sock: filepath.Join(base, "sock"),
		log: filepath.Join(base, "postgres.log"), cred: cred}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	// Marks the directory as ours while this process lives (sweepStale).
	if err := os.WriteFile(filepath.Join(base, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if err := os.Mkdir(s.sock, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		for _, p := range []string{base, s.sock} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	if out, err := s.command("initdb", "-D", s.data, "-U", superuser, "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.startPostmaster(); err != nil {
		return nil, err
	}
	s.admin, err = sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(time.Minute); err != nil {
		return nil, err
	}
	return s, nil
}

// command is bin/name args... as the server's user, in its directory,
// without the caller's PG* variables (PGPORT would move the socket).
func (s *server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.base
	env := []string{"LC_ALL=C", "LANG=C", "HOME=" + s.base, "TZ=UTC"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") ||
			strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "TZ=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// startPostmaster runs postgres as our child (pg_ctl start would detach
// it) with a parent-death signal: if the test binary is killed, the kernel
// kills the postmaster and its backends follow. It listens only on the
// socket directory. Durability is off: the data is thrown away.
func (s *server) startPostmaster() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := s.command("postgres", "-D", s.data, "-k", s.sock, "-p", "5432",
		"-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	s.cmd = cmd
	s.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the *thread* that forked the
		// child exits. Keep this goroutine alone on its thread for the
		// server's whole life; it never unlocks, so the thread ends only
		// after the postmaster has.
		runtime.LockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	return nil
}

// waitReady polls a connection until the server accepts one, it exits, or
// the time is up.
func (s *server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.admin.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %v: %v\n%s", limit, err, s.logTail())
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start-up: %v\n%s", s.exitErr, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// stop shuts the server down (immediate: the data is thrown away) and
// removes its directory. Safe to call more than once.
func (s *server) stop() {
	s.stopOnce.Do(func() {
		if s.admin != nil {
			s.admin.Close()
		}
		if s.cmd != nil && s.exited != nil {
			select {
			case <-s.exited:
			default:
				s.command("pg_ctl", "stop", "-D", s.data, "-m", "immediate", "-w", "-t", "30").Run()
				select {
				case <-s.exited:
				case <-time.After(30 * time.Second):
					s.cmd.Process.Kill()
					<-s.exited
				}
			}
		}
		os.RemoveAll(s.base)
	})
}

// runAs is the user to run the server as: nil (ourselves) unless we are
// root, which PostgreSQL refuses; then SYNCGATE_PGTEST_USER, postgres or
// nobody, whichever exists first.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	names := []string{"postgres", "nobody"}
	if n := os.Getenv("SYNCGATE_PGTEST_USER"); n != "" {
		names = []string{n}
	}
	for _, n := range names {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("running as root and none of the users %v exists to run PostgreSQL as (set SYNCGATE_PGTEST_USER)", names)
}

// tempRoot is the directory to create the server's directory in: the
// system temp directory, or /tmp when the server's user cannot reach that
// one. The socket path must stay under the 107-byte limit.
func tempRoot(cred *syscall.Credential) (string, error) {
	for _, r := range []string{os.TempDir(), "/tmp"} {
		if len(r) > 60 {
			continue
		}
		if cred == nil || reachable(r, cred.Uid, cred.Gid) {
			return r, nil
		}
	}
	return "", fmt.Errorf("no temporary directory that user %d can reach (TMPDIR=%q)", cred.Uid, os.Getenv("TMPDIR"))
}

// reachable reports whether uid/gid may search dir and every directory
// above it.
func reachable(dir string, uid, gid uint32) bool {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		m := fi.Mode().Perm()
		if !(m&0o001 != 0 || (st.Uid == uid && m&0o100 != 0) || (st.Gid == gid && m&0o010 != 0)) {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}

// sweepStale removes the directories of servers whose test binary died
// without cleaning up (killed by a timeout or a signal). Its postmaster got
// SIGKILL from the kernel already; one still running (no parent-death
// signal delivered) is stopped only if its command line names that
// directory, so a reused pid is never signalled.
func sweepStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, "syncgate-pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue // being set up right now, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pm), "\n")
			if p, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && p > 0 && alive(p) {
				if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil && bytes.Contains(cl, []byte(d)) {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		os.RemoveAll(d)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
