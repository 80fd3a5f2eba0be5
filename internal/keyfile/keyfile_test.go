package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.pem")
	os.WriteFile(p, []byte("x"), 0o600)
	if err := CheckPrivate(p, "some key"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		os.Chmod(p, m)
		err := CheckPrivate(p, "some key")
		if err == nil || !strings.Contains(err.Error(), "some key "+p+": mode") || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %v: %v", m, err)
		}
	}
}
