package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var units = []string{"syncgate-serve.service", "syncgate-sync.service"}

// unitDirectives reads a unit file into section.key -> values.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			sec = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: bad line %q", path, line)
			}
			m[sec+"."+k] = append(m[sec+"."+k], v)
		}
	}
	return m
}

// TestSystemdUnits checks the hardening the units promise, directive by
// directive, and that their command lines and example configs are ones the
// binary accepts.
func TestSystemdUnits(t *testing.T) {
	for _, u := range units {
		d := unitDirectives(t, filepath.Join("systemd", u))
		want := map[string]string{
			"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
			"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
			"SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes", "PrivateDevices": "yes",
		}
		for k, v := range want {
			got := d["Service."+k]
			if len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s=%q, want %q", u, k, got, v)
			}
		}
		if f := d["Service.SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
			t.Errorf("%s: SystemCallFilter=%q, want @system-service first", u, f)
		}
		if af := d["Service.RestrictAddressFamilies"]; len(af) != 1 || af[0] != "AF_INET AF_INET6 AF_UNIX" {
			t.Errorf("%s: RestrictAddressFamilies=%q", u, af)
		}
		if len(d["Service.StateDirectory"]) != 1 {
			t.Errorf("%s: no StateDirectory", u)
		}
		exec := d["Service.ExecStart"]
		if len(exec) != 1 || !strings.HasPrefix(exec[0], "/usr/local/bin/syncgate ") {
			t.Fatalf("%s: ExecStart=%q", u, exec)
		}
		checkCommand(t, strings.Fields(exec[0])[1:])
	}
	serve := unitDirectives(t, "systemd/syncgate-serve.service")
	if r := serve["Service.ExecReload"]; len(r) != 1 || r[0] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("serve: ExecReload=%q, want SIGHUP", r)
	}
	sync := unitDirectives(t, "systemd/syncgate-sync.service")
	if d := sync["Service.IPAddressDeny"]; len(d) != 1 || d[0] != "any" {
		t.Errorf("sync: IPAddressDeny=%q, want any", d)
	}
	if a := sync["Service.IPAddressAllow"]; len(a) != 1 || a[0] != "localhost" {
		t.Errorf("sync: IPAddressAllow=%q, want localhost (the gateway) only", a)
	}
	if r := sync["Service.ExecReload"]; len(r) != 0 {
		t.Errorf("sync: ExecReload=%q, but syncgate sync has no reload (SIGHUP would end it)", r)
	}

	// The example configs load with the commands' own loaders, with the
	// credentials the units hand over by LoadCredential.
	dir := t.TempDir()
	copyExamplePolicy(t, dir)
	copyFile(t, "systemd/syncgate.yaml", filepath.Join(dir, "syncgate.yaml"))
	copyFile(t, "systemd/sync.yaml", filepath.Join(dir, "sync.yaml"))
	configCheck(t, "serve", filepath.Join(dir, "syncgate.yaml"))
	configCheck(t, "sync", filepath.Join(dir, "sync.yaml"))
	cfg, _ := os.ReadFile("systemd/syncgate.yaml")
	var creds []string
	for _, lc := range serve["Service.LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		creds = append(creds, name)
	}
	for _, m := range regexp.MustCompile(`/run/credentials/syncgate-serve\.service/([^\s]+)`).FindAllStringSubmatch(string(cfg), -1) {
		found := false
		for _, c := range creds {
			found = found || c == m[1]
		}
		if !found {
			t.Errorf("syncgate.yaml reads credential %s, which the unit does not load (LoadCredential=%v)", m[1], creds)
		}
	}
	sc, _ := os.ReadFile("systemd/sync.yaml")
	if !strings.Contains(string(sc), "proxy: http://127.0.0.1:3128") || !strings.Contains(string(cfg), "plain_listen: 127.0.0.1:3128") {
		t.Error("the sync engine's gateway must be the serve unit's plain loopback listener")
	}
}

// TestSystemdAnalyze runs systemd-analyze verify (no warning at all) and
// security --offline (each unit "OK" or better: exposure at most 2.0) on
// copies of the units whose ExecStart points at the binary built here.
func TestSystemdAnalyze(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "apt-get install systemd")
	dir := t.TempDir()
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, u)
		os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/syncgate", syncgateBin)), 0o644)
		paths = append(paths, p)
	}
	out, err := exec.Command(sa, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+) (\S+)`)
	for _, p := range paths {
		out, err := exec.Command(sa, "security", "--offline=yes", p).CombinedOutput()
		m := re.FindSubmatch(out)
		if m == nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", p, err, out)
			continue
		}
		score, _ := strconv.ParseFloat(string(m[2]), 64)
		t.Logf("%s: exposure %s %s", m[1], m[2], m[3])
		if score > 2.0 {
			t.Errorf("%s: exposure %.1f %s, want 2.0 or less (OK)\n%s", m[1], score, m[3], out)
		}
	}
}
