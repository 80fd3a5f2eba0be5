// Command image builds the syncgate container image without a Docker daemon:
// one layer (the static binary, CA certificates, passwd and group, empty
// mount points) on an empty base, written as an OCI image layout and a
// docker-save tarball. Same inputs, same digest: entries are sorted, owned
// by numeric ids, and dated at --created (the commit time in `make image`).
//
//	go run ./deploy/docker --binary bin/image/syncgate --out bin/image/oci --tar bin/image/syncgate.tar
//
// Dockerfile beside this file builds the same filesystem with a Docker
// engine.
package main
