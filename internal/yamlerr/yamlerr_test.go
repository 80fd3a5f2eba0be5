package yamlerr

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestScrubHidesValues(t *testing.T) {
	const secret = "s3cr3t`with\"quotes"
	doc := "a: 1\nb: '" + strings.ReplaceAll(secret, "'", "''") + "'\nc: [x]\n"
	var v struct {
		A int `yaml:"a"`
		B int `yaml:"b"`
		C int `yaml:"c"`
	}
	err := yaml.Unmarshal([]byte(doc), &v)
	if err == nil || !strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("test setup: yaml's own error should echo the value: %v", err)
	}
	s := Scrub(err)
	if strings.Contains(s.Error(), "s3cr3t") || strings.Contains(s.Error(), "quotes") {
		t.Fatalf("value survives: %v", s)
	}
	var te *yaml.TypeError
	if !errors.As(s, &te) || len(te.Errors) != 2 || !strings.Contains(te.Errors[0], "line 2") || !strings.Contains(te.Errors[0], Hidden+" into int") {
		t.Fatalf("scrubbed TypeError: %#v", s)
	}
	if Scrub(nil) != nil {
		t.Fatal("nil")
	}
}
