package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
)

func setFlags(t *testing.T, endpoint, env string) {
	t.Helper()
	oldE, oldT := *jobopts.Endpoint, *jobopts.EnvironmentType
	*jobopts.Endpoint, *jobopts.EnvironmentType = endpoint, env
	t.Cleanup(func() { *jobopts.Endpoint, *jobopts.EnvironmentType = oldE, oldT })
}

func TestRemote(t *testing.T) {
	for _, tt := range []struct {
		runner, endpoint, env string
		want                  bool
	}{
		{"", "", "", false},
		{"prism", "", "", false},
		{"direct", "", "", false},
		{"prism", "localhost:8073", "LOOPBACK", false},
		{"prism", "localhost:8073", "EXTERNAL", true},
		{"universal", "localhost:8073", "loopback", false},
		{"universal", "localhost:8073", "EXTERNAL", true},
		{"flink", "localhost:8099", "", true}, // Beam's default environment is DOCKER
		{"spark", "localhost:8199", "DOCKER", true},
		{"dataflow", "", "LOOPBACK", true},
	} {
		setFlags(t, tt.endpoint, tt.env)
		if got := Remote(tt.runner); got != tt.want {
			t.Errorf("Remote(%q) with --endpoint=%q --environment_type=%q = %v, want %v", tt.runner, tt.endpoint, tt.env, got, tt.want)
		}
	}
}

// Where the workers are this process, Check runs no job and leaves nothing.
func TestCheckInProcess(t *testing.T) {
	setFlags(t, "", "")
	out := filepath.Join(t.TempDir(), "out")
	if err := Check(context.Background(), "prism", []string{"/no/such/input"}, []string{out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an in-process check created %s", out)
	}
}

func TestLocalFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.csv", "b.csv", "c.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := localFiles([]string{filepath.Join(dir, "*.csv"), dir, "gs://bucket/x.csv", ""})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	if got := strings.Join(names, ","); got != "a.csv,a.csv,b.csv,b.csv,c.txt" {
		t.Errorf("files %s", got)
	}
}

// checkFn, as a worker runs it, names what it cannot see.
func TestCheckFn(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := localFiles([]string{in})
	if err != nil {
		t.Fatal(err)
	}
	token := Token{Dir: dir, Path: filepath.Join(dir, TokenName), Nonce: "n1"}
	if err := os.WriteFile(token.Path, []byte("n1"), 0o644); err != nil {
		t.Fatal(err)
	}
	fn := &checkFn{Files: files, Tokens: []Token{token}}
	if err := fn.ProcessElement(context.Background(), nil); err != nil {
		t.Fatalf("a worker that sees everything: %v", err)
	}
	// Another file at the input's path, a missing input, a stale token.
	if err := os.WriteFile(in, []byte("1,2,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fn.Files = append(fn.Files, File{Path: filepath.Join(dir, "gone.csv"), Size: 1})
	fn.Tokens[0].Nonce = "n2"
	err = fn.ProcessElement(context.Background(), nil)
	for _, want := range []string{"has another file at that path", "cannot see the input " + filepath.Join(dir, "gone.csv"), "cannot see the output directory " + dir} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	// The submitter picks the findings out of the runner's report.
	report := `job failed: DoFn[...] failed:\n` + strings.ReplaceAll(err.Error(), "\n", `\n`)
	if got := unseen.FindAllString(report, -1); len(got) != 3 {
		t.Errorf("found %d findings in %q", len(got), report)
	}
}
