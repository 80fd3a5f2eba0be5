package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/internal/buildinfo"
)

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

func TestVersionCommand(t *testing.T) {
	out, err := runRoot(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if got != buildinfo.Read() || !strings.HasPrefix(got.GoVersion, "go") {
		t.Fatalf("version --json = %+v, want %+v", got, buildinfo.Read())
	}
	out, err = runRoot(t, "version")
	if err != nil || !strings.HasPrefix(out, "syncgate "+got.Version+"\n") || !strings.Contains(out, got.GoVersion) {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, args := range [][]string{{"serve", "../../examples/syncgate.yaml"}, {"sync", "../../examples/sync.yaml"}} {
		if out, err := runRoot(t, append([]string{"config", "check"}, args...)...); err != nil || out != "ok\n" {
			t.Fatalf("config check %v: %q %v", args, out, err)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:1\nnot_a_field: 1\n"), 0o600)
	for _, kind := range []string{"serve", "sync"} {
		_, err := runRoot(t, "config", "check", kind, bad)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Fatalf("%s: bad config: %v", kind, err)
		}
	}
	// A serve config whose policy names a credential the config lacks.
	ca, err := os.ReadFile("../../examples/cas/microsoft.pem")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(`version: 1
ca_bundles: {ms: {files: [ca.pem]}}
clients: [{name: c, sources: ["127.0.0.1/32"]}]
destinations: [{name: d, hosts: [example.com], tls: {ca_bundle: ms}, credential: nope, clients: [c], rules: [{methods: [GET], paths: ["/**"]}]}]
`), 0o600)
	os.WriteFile(filepath.Join(dir, "serve.yaml"), []byte("plain_listen: 127.0.0.1:3128\nintercept_ca: {cert_file: a, key_file: b}\npolicy: policy.yaml\naudit: {path: a.jsonl}\n"), 0o600)
	if _, err := runRoot(t, "config", "check", "serve", filepath.Join(dir, "serve.yaml")); err == nil || !strings.Contains(err.Error(), `credential "nope"`) {
		t.Fatalf("credential cross-check: %v", err)
	}
}

func TestInstallKeys(t *testing.T) {
	src, dst := filepath.Join(t.TempDir(), "ica"), filepath.Join(t.TempDir(), "keys")
	os.Mkdir(src, 0o755)
	// The shape of a Kubernetes Secret volume: ..data links to a timestamped
	// directory, each key links into ..data, and an fsGroup made it 0440.
	ts := filepath.Join(src, "..2026_01_01")
	os.Mkdir(ts, 0o755)
	os.WriteFile(filepath.Join(ts, "tls.key"), []byte("KEY"), 0o440)
	os.WriteFile(filepath.Join(ts, "tls.crt"), []byte("CRT"), 0o444)
	os.Symlink("..2026_01_01", filepath.Join(src, "..data"))
	os.Symlink("..data/tls.key", filepath.Join(src, "tls.key"))
	os.Symlink("..data/tls.crt", filepath.Join(src, "tls.crt"))
	out, err := runRoot(t, "config", "install-keys", src, "--to", dst)
	if err != nil || !strings.HasPrefix(out, "2 files installed") {
		t.Fatalf("%q %v", out, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dst, "ica"))
	if len(ents) != 2 {
		t.Fatalf("installed %v", ents)
	}
	for _, n := range []string{"tls.key", "tls.crt"} {
		fi, err := os.Lstat(filepath.Join(dst, "ica", n))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", n, fi.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "ica", "tls.key")); string(b) != "KEY" {
		t.Fatalf("content %q", b)
	}
}
