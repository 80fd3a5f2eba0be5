//go:build !unix

package audit

// lockLog is a no-op where flock is unavailable.
func lockLog(string) (func(), error) { return func() {}, nil }
