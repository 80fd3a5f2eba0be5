package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

//go:embed rootfs
var rootfs embed.FS

const (
	// Entrypoint is where the binary lives in the image.
	Entrypoint = "/usr/local/bin/syncgate"
	// UID and GID the image runs as (the gateway; the Helm chart runs the
	// sync engine as 65533).
	UID, GID = 65532, 65532
	// CABundle is where Go's crypto/x509 looks first on Linux.
	CABundle = "/etc/ssl/certs/ca-certificates.crt"
)

// Options are the inputs of one image.
type Options struct {
	Binary   string    // a static linux binary of syncgate
	CABundle string    // PEM file to ship as CABundle
	Arch     string    // GOARCH of Binary
	Created  time.Time // every file's mtime and the config's created
	Version  string    // org.opencontainers.image.version
	Revision string    // org.opencontainers.image.revision
}

// file is one entry of the layer.
type file struct {
	name     string // without leading slash
	mode     int64
	uid, gid int
	dir      bool
	data     []byte
}

// Build returns the image.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(o.Binary); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", o.CABundle)
	}
	files := []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(CABundle, "/"), mode: 0o644, data: ca},
		{name: "etc/syncgate", mode: 0o755, dir: true}, // config mount point
		{name: "tmp", mode: 0o1777, dir: true},
		{name: "usr", mode: 0o755, dir: true},
		{name: "usr/local", mode: 0o755, dir: true},
		{name: "usr/local/bin", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(Entrypoint, "/"), mode: 0o755, data: bin},
		{name: "var", mode: 0o755, dir: true},
		{name: "var/lib", mode: 0o755, dir: true},
		{name: "var/lib/syncgate", mode: 0o700, uid: UID, gid: GID, dir: true}, // state mount point
	}
	err = fs.WalkDir(rootfs, "rootfs/etc", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := rootfs.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, file{name: strings.TrimPrefix(p, "rootfs/"), mode: 0o644, data: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	layerTar, err := tarFiles(files, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "syncgate deploy/docker: " + Entrypoint + ", CA certificates, passwd, group",
			Comment:   "static binary, CGO_ENABLED=0",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		Entrypoint: []string{Entrypoint},
		Cmd:        []string{"serve", "--config", "/etc/syncgate/syncgate.yaml"},
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		WorkingDir: "/var/lib/syncgate",
		Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + CABundle},
		ExposedPorts: map[string]struct{}{
			"3129/tcp": {}, // TLS listener
		},
		Volumes: map[string]struct{}{"/var/lib/syncgate": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "syncgate",
			"org.opencontainers.image.source":   "https://github.com/syncgate/syncgate",
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.created":  o.Created.UTC().Format(time.RFC3339),
		},
		StopSignal: "SIGTERM",
	}
	return mutate.ConfigFile(img, cf)
}

// tarFiles writes files as a deterministic tar: sorted, numeric owners,
// one mtime, no user or group names, no access or change times.
func tarFiles(files []file, mtime time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.name] {
			return nil, fmt.Errorf("duplicate entry %s", f.name)
		}
		seen[f.name] = true
		if dir := path.Dir(f.name); dir != "." && !seen[dir] {
			return nil, fmt.Errorf("%s: parent %s not in the layer", f.name, dir)
		}
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime.UTC().Truncate(time.Second), Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkStatic refuses a dynamically linked binary: the image has no libc
// and no loader.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("%s: not an ELF binary: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (build it with CGO_ENABLED=0)", p)
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: not an executable", p)
	}
	return nil
}

// Write writes img as an OCI image layout in dir (replaced) and, when tarPath
// is set, as a docker-save tarball tagged ref.
func Write(img v1.Image, dir, tarPath, ref string) error {
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": ref,
		})); err != nil {
			return err
		}
	}
	if tarPath != "" {
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
			return err
		}
	}
	return nil
}

// errUsage marks a command-line mistake.
var errUsage = errors.New("usage")
