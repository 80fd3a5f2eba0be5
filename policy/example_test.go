package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
)

// copyExample copies examples/policy.yaml and its cases into a temporary
// directory with generated CA bundles under cas/, as the real ones ship
// separately, and returns both paths.
func copyExample(t *testing.T) (policyPath, casesPath string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "cas"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"microsoft", "google", "salesforce", "corp"} {
		testpki.NewCA(t, n+" test root").WriteCert(t, filepath.Join(dir, "cas"), n+".pem")
	}
	for _, n := range []string{"policy.yaml", "policy-cases.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "policy-cases.yaml")
}

func TestExamplePolicyCases(t *testing.T) {
	pp, cp := copyExample(t)
	p, err := Load(pp)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if w := Warnings(p); len(w) != 0 {
		t.Errorf("example policy has warnings: %q", w)
	}
	cases, err := LoadCases(cp)
	if err != nil {
		t.Fatal(err)
	}
	allow, deny := 0, 0
	for _, c := range cases {
		r, err := e.RunCase(c)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Pass {
			t.Errorf("case %q: %s", c.Name, r.Msg)
		}
		if c.Expect == "allow" {
			allow++
		} else {
			deny++
		}
	}
	if allow == 0 || deny == 0 {
		t.Errorf("cases cover %d allows and %d denies; want both", allow, deny)
	}
}
