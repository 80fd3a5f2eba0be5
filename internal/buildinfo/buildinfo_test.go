package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/syncgate/syncgate", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}}}
	got := fromBuildInfo(bi, true)
	want := Info{Version: "v1.2.3", Commit: "abc123", Modified: true, GoVersion: "go1.26.8", BuildTime: "2026-01-02T03:04:05Z", Platform: "linux/amd64"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := fromBuildInfo(nil, false); got.Version != "(devel)" || got.Commit != "unknown" {
		t.Fatalf("no build info: %+v", got)
	}
	version, commit, buildTime = "v9.9.9", "def456", "2030-01-01T00:00:00+01:00"
	defer func() { version, commit, buildTime = "", "", "" }()
	got = fromBuildInfo(bi, true)
	if got.Version != "v9.9.9" || got.Commit != "def456" || got.BuildTime != "2029-12-31T23:00:00Z" {
		t.Fatalf("link-time override: %+v", got)
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "syncgate_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gather: %v %v", mfs, err)
	}
	m := mfs[0].GetMetric()[0]
	if m.GetGauge().GetValue() != 1 {
		t.Fatalf("value %v", m.GetGauge().GetValue())
	}
	in := Read()
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"version": in.Version, "commit": in.Commit, "modified": boolString(in.Modified), "go_version": in.GoVersion, "build_time": in.BuildTime}
	if len(labels) != len(want) {
		t.Fatalf("labels %v", labels)
	}
	for k, v := range want {
		if labels[k] != v {
			t.Fatalf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	if !strings.HasPrefix(in.GoVersion, "go") {
		t.Fatalf("go version %q", in.GoVersion)
	}
}
