package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	var o Options
	var out, tarPath, ref, created string
	fl.StringVar(&o.Binary, "binary", "", "static linux syncgate binary (CGO_ENABLED=0)")
	fl.StringVar(&o.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to ship (Debian's ca-certificates)")
	fl.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the binary")
	fl.StringVar(&o.Version, "version", "dev", "image version label")
	fl.StringVar(&o.Revision, "revision", "", "image revision label (commit)")
	fl.StringVar(&created, "created", "", "RFC 3339 time or Unix seconds for every file and the config (default: SOURCE_DATE_EPOCH, else 1970)")
	fl.StringVar(&out, "out", "bin/image/oci", "OCI image layout directory (replaced)")
	fl.StringVar(&tarPath, "tar", "", "also write a docker-save tarball here (docker load / podman load)")
	fl.StringVar(&ref, "ref", "syncgate:dev", "image reference recorded in the layout and the tarball")
	if err := fl.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.Binary == "" {
		return fmt.Errorf("%w: --binary is required", errUsage)
	}
	if created == "" {
		created = os.Getenv("SOURCE_DATE_EPOCH")
	}
	t, err := parseTime(created)
	if err != nil {
		return fmt.Errorf("%w: --created: %v", errUsage, err)
	}
	o.Created = t
	img, err := Build(o)
	if err != nil {
		return err
	}
	if err := Write(img, out, tarPath, ref); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", ref, d)
	fmt.Printf("  layout   %s\n", out)
	if tarPath != "" {
		fmt.Printf("  tarball  %s\n", tarPath)
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}
