package main

import (
	"context"
	"errors"
	"io"
	"time"
)

// runBench is filled in below; see bench_load.go.
func runBench(ctx context.Context, out io.Writer, dir string, d time.Duration) error {
	return errors.New("bench: not built yet")
}
