package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// syncgateBin is the binary built from this tree for the tests.
var syncgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncgate-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	syncgateBin = filepath.Join(dir, "syncgate")
	cmd := exec.Command("go", "build", "-o", syncgateBin, "./cmd/syncgate")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/syncgate: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool finds a tool or skips (fails under CI) with the command that
// installs it.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed (CI must have it): %s", name, install)
	}
	t.Skipf("%s not installed: %s", name, install)
	return ""
}

// checkCommand checks that args name a syncgate command and flags that
// exist: cobra parses the flags before it honours --help, so an unknown
// command or flag fails and a known one prints help and exits 0.
func checkCommand(t *testing.T, args []string) {
	t.Helper()
	out, err := exec.Command(syncgateBin, append(append([]string{}, args...), "--help")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage:") {
		t.Errorf("syncgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// configCheck runs `syncgate config check KIND FILE`.
func configCheck(t *testing.T, kind, file string) {
	t.Helper()
	if out, err := exec.Command(syncgateBin, "config", "check", kind, file).CombinedOutput(); err != nil {
		t.Errorf("syncgate config check %s %s: %v\n%s", kind, file, err, out)
	}
}

// copyTree copies examples' policy and CA bundles into dir.
func copyExamplePolicy(t *testing.T, dir string) {
	t.Helper()
	copyFile(t, "../examples/policy.yaml", filepath.Join(dir, "policy.yaml"))
	ents, err := os.ReadDir("../examples/cas")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "cas"), 0o755)
	for _, e := range ents {
		copyFile(t, filepath.Join("../examples/cas", e.Name()), filepath.Join(dir, "cas", e.Name()))
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
