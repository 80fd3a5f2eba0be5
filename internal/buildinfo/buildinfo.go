package buildinfo

import (
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// version and buildTime may be set at link time:
//
//	go build -ldflags "-X github.com/syncgate/syncgate/internal/buildinfo.version=v1.2.3 \
//	  -X github.com/syncgate/syncgate/internal/buildinfo.commit=0123abcd… \
//	  -X github.com/syncgate/syncgate/internal/buildinfo.buildTime=2026-01-02T03:04:05Z"
//
// Without them the module version and the commit time come from the build
// information the Go toolchain embeds (go build in a git checkout records
// vcs.revision, vcs.time and vcs.modified; go install module@version records
// the version).
var (
	version   string
	commit    string
	buildTime string
)

// Info is what `syncgate version` prints.
type Info struct {
	Version   string `json:"version"`    // module version: a tag, a pseudo-version, or "(devel)"
	Commit    string `json:"commit"`     // VCS revision, "unknown" when not recorded
	Modified  bool   `json:"modified"`   // the working tree had uncommitted changes
	GoVersion string `json:"go_version"` // the toolchain that built the binary
	BuildTime string `json:"build_time"` // RFC 3339: the link-time value, else the commit time
	Platform  string `json:"platform"`   // GOOS/GOARCH
}

// Read returns the binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(bi, ok)
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	in := Info{Version: "(devel)", Commit: "unknown", GoVersion: "unknown", BuildTime: "unknown", Platform: "unknown"}
	if ok && bi != nil {
		if bi.Main.Version != "" {
			in.Version = bi.Main.Version
		}
		in.GoVersion = bi.GoVersion
		var goos, goarch string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Commit = s.Value
			case "vcs.time":
				in.BuildTime = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
		if goos != "" && goarch != "" {
			in.Platform = goos + "/" + goarch
		}
	}
	if version != "" {
		in.Version = version
	}
	if commit != "" {
		in.Commit = commit
	}
	if buildTime != "" {
		if t, err := time.Parse(time.RFC3339, buildTime); err == nil {
			in.BuildTime = t.UTC().Format(time.RFC3339)
		} else {
			in.BuildTime = buildTime
		}
	}
	return in
}

// Collector is the syncgate_build_info gauge: always 1, with the build's
// version, commit, Go version and build time as labels (join it to other
// series with `* on(instance) group_left(version) syncgate_build_info`).
func Collector() prometheus.Collector {
	in := Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "syncgate_build_info",
		Help: "A metric with a constant 1 value labelled by the syncgate version, commit, Go version and build time.",
		ConstLabels: prometheus.Labels{
			"version":    in.Version,
			"commit":     in.Commit,
			"modified":   boolString(in.Modified),
			"go_version": in.GoVersion,
			"build_time": in.BuildTime,
		},
	})
	g.Set(1)
	return g
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
