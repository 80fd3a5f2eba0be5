package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const testVersion = "v0.0.0-imagetest"

// buildBinary builds syncgate the way `make image` does: static, trimmed,
// version and build time stamped at link time.
func buildBinary(t *testing.T, created time.Time) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "syncgate")
	pkg := "github.com/syncgate/syncgate/internal/buildinfo"
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X "+pkg+".version="+testVersion+" -X "+pkg+".buildTime="+created.Format(time.RFC3339),
		"-o", out, "./cmd/syncgate")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func caBundle(t *testing.T) string {
	p := "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: apt-get install ca-certificates", p)
		}
		t.Skipf("%s missing: apt-get install ca-certificates", p)
	}
	return p
}

func TestImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image holds a linux binary that the test runs")
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	bin := buildBinary(t, created)
	opts := Options{Binary: bin, CABundle: caBundle(t), Arch: runtime.GOARCH, Created: created, Version: testVersion, Revision: "test"}
	img, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	oci, tarPath := filepath.Join(dir, "oci"), filepath.Join(dir, "syncgate.tar")
	if err := Write(img, oci, tarPath, "syncgate:test"); err != nil {
		t.Fatal(err)
	}

	// Reproducible: the same inputs give the same digest.
	img2, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Fatalf("two builds of the same inputs: %s != %s", d1, d2)
	}

	// Read the image back from the layout, as a runtime would.
	p, err := layout.FromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v %v", im, err)
	}
	if im.Manifests[0].Digest != d1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "syncgate:test" {
		t.Fatalf("index entry %+v, want digest %s", im.Manifests[0], d1)
	}
	got, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, got, bin)

	// The docker-save tarball holds the same image.
	timg, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	// (docker save records no manifest of its own: compare what it keeps,
	// the config and the layers.)
	c1, _ := img.ConfigName()
	c2, err := timg.ConfigName()
	if err != nil || c1 != c2 {
		t.Fatalf("tarball config %s (%v), layout %s", c2, err, c1)
	}
	l1, _ := img.Layers()
	l2, _ := timg.Layers()
	if len(l1) != 1 || len(l2) != 1 {
		t.Fatalf("layers %d and %d, want 1", len(l1), len(l2))
	}
	if a, _ := l1[0].DiffID(); true {
		if b, _ := l2[0].DiffID(); a != b {
			t.Fatalf("tarball layer %s, layout %s", b, a)
		}
	}
}

func checkImage(t *testing.T, img v1.Image, hostBin string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != Entrypoint {
		t.Fatalf("entrypoint %q, want [%s]", c.Entrypoint, Entrypoint)
	}
	uid, gid, ok := strings.Cut(c.User, ":")
	u, err1 := strconv.Atoi(uid)
	g, err2 := strconv.Atoi(gid)
	if !ok || err1 != nil || err2 != nil || u == 0 || g == 0 {
		t.Fatalf("user %q: want numeric non-root uid:gid", c.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Fatalf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if c.Labels["org.opencontainers.image.version"] != testVersion {
		t.Fatalf("labels %v", c.Labels)
	}

	// Walk the flattened filesystem.
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var inner []byte
	names := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		names[name] = h
		if h.Mode&(0o4000|0o2000) != 0 {
			t.Errorf("%s is setuid or setgid (mode %o)", name, h.Mode)
		}
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			t.Errorf("%s: unexpected link", name)
		}
		if h.Typeflag == tar.TypeReg && h.Mode&0o022 != 0 {
			t.Errorf("%s is writable by group or others (mode %o)", name, h.Mode)
		}
		if h.Typeflag == tar.TypeReg && (h.Uid != 0 || h.Gid != 0) {
			t.Errorf("%s owned by %d:%d: files belong to root, the process cannot change them", name, h.Uid, h.Gid)
		}
		if name == Entrypoint {
			inner, err = io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, shell := range []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/usr/bin/env"} {
		if names[shell] != nil {
			t.Errorf("%s in the image: want no shell", shell)
		}
	}
	if h := names[CABundle]; h == nil || h.Size == 0 {
		t.Errorf("no CA bundle at %s", CABundle)
	}
	if h := names["/var/lib/syncgate"]; h == nil || h.Uid != u || h.Mode&0o777 != 0o700 {
		t.Errorf("/var/lib/syncgate: %+v", h)
	}
	if h := names["/etc/passwd"]; h == nil {
		t.Error("no /etc/passwd")
	}
	if inner == nil {
		t.Fatalf("no %s in the image", Entrypoint)
	}

	// The binary inside reports the same version as the one built here.
	p := filepath.Join(t.TempDir(), "syncgate-from-image")
	if err := os.WriteFile(p, inner, 0o755); err != nil {
		t.Fatal(err)
	}
	want := versionJSON(t, hostBin)
	if got := versionJSON(t, p); got != want {
		t.Fatalf("version inside the image %+v, built %+v", got, want)
	}
	if want.Version != testVersion || want.BuildTime != "2026-01-02T03:04:05Z" {
		t.Fatalf("stamped version %+v", want)
	}
}

type versionInfo struct {
	Version, Commit, GoVersion, BuildTime, Platform string
	Modified                                        bool
}

func versionJSON(t *testing.T, bin string) versionInfo {
	t.Helper()
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("%s version --json: %v", bin, err)
	}
	var raw struct {
		Version   string `json:"version"`
		Commit    string `json:"commit"`
		Modified  bool   `json:"modified"`
		GoVersion string `json:"go_version"`
		BuildTime string `json:"build_time"`
		Platform  string `json:"platform"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	return versionInfo{raw.Version, raw.Commit, raw.GoVersion, raw.BuildTime, raw.Platform, raw.Modified}
}

func TestBuildRefusesDynamicBinary(t *testing.T) {
	// The test binary itself is dynamically linked when cgo is on; use
	// /bin/ls from the host, which always is on Debian.
	if _, err := os.Stat("/bin/ls"); err != nil {
		t.Skip("no /bin/ls")
	}
	_, err := Build(Options{Binary: "/bin/ls", CABundle: caBundle(t), Arch: runtime.GOARCH})
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("dynamic binary: %v", err)
	}
}

// TestDockerfile checks the Dockerfile's shape: a multi-stage build with
// CGO_ENABLED=0, a final stage on scratch (or distroless static) that runs
// no command, a numeric non-root user, and the same entrypoint, user and
// files as the daemonless build.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type instr struct{ op, args string }
	var stages [][]instr
	var cont string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, cont = cont+line, ""
		op, args, _ := strings.Cut(line, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], instr{op, strings.TrimSpace(args)})
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a multi-stage build", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	var cgo0 bool
	for _, in := range build {
		if in.op == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") {
			cgo0 = true
		}
	}
	if !cgo0 {
		t.Error("the build stage does not run go build with CGO_ENABLED=0")
	}
	base := final[0].args
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s: want scratch or distroless static", base)
	}
	seen := map[string]string{}
	for _, in := range final[1:] {
		switch in.op {
		case "RUN", "ADD", "ONBUILD", "SHELL":
			t.Errorf("final stage has %s %s: nothing may run or be fetched there (no shell)", in.op, in.args)
		}
		seen[in.op] = in.args
	}
	if seen["USER"] != strconv.Itoa(UID)+":"+strconv.Itoa(GID) {
		t.Errorf("USER %q, want %d:%d", seen["USER"], UID, GID)
	}
	if seen["ENTRYPOINT"] != `["`+Entrypoint+`"]` {
		t.Errorf("ENTRYPOINT %s: want exec form [%q]", seen["ENTRYPOINT"], Entrypoint)
	}
	var all bytes.Buffer
	for _, in := range build {
		all.WriteString(in.args + "\n")
	}
	for _, want := range []string{"-trimpath", "/out/usr/local/bin/syncgate", "/out/etc/ssl/certs/ca-certificates.crt", "rootfs/etc/passwd", "chmod 1777 /out/tmp", "chown 65532:65532 /out/var/lib/syncgate"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("build stage lacks %q (keep it the same filesystem as image.go)", want)
		}
	}
}
