// Package probe checks, before a job goes to a cluster, that its workers
// see the local paths the submitter was given.
//
// On a cluster the pipeline's code runs in workers on other machines. A
// local path ("/data/mnist", "out/prep") names a file on the submitting
// machine; a worker that opens it finds nothing, or worse, a different file
// of the same name, and an output written there lands on the worker's own
// disk, where the submitter never sees it. Paths on a filesystem that every
// worker mounts at the same place (NFS, a shared volume) are fine. So where
// the workers may be elsewhere, lightbeam runs a small probe job first: the
// submitter stats the input files and leaves a token file in each output
// directory, and the job's one element checks, on a worker, that it finds
// the same files and the tokens. A mismatch stops the command with a clear
// message before anything is read or written.
package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/storage"
)

func init() {
	register.DoFn2x1[context.Context, []byte, error](&checkFn{})
}

// TokenName is the file a probe leaves in an output directory while it
// runs (removed afterwards).
const TokenName = ".lightbeam-probe"

// Remote reports whether a pipeline run with the named runner (and Beam's
// --endpoint and --environment_type flags) may execute its code on other
// machines: a job server's workers in any environment but LOOPBACK, or
// Dataflow. The in-process runners (prism, direct; "" means prism) and
// LOOPBACK run it in this process.
func Remote(runner string) bool {
	switch runner {
	case "", "prism":
		if *jobopts.Endpoint == "" {
			return false // in-process prism
		}
	case "direct":
		return false
	case "dataflow":
		return true
	}
	return !strings.EqualFold(*jobopts.EnvironmentType, "LOOPBACK")
}

// File is a local input file as the submitter sees it.
type File struct {
	Path    string
	Size    int64
	ModTime int64 // Unix nanoseconds
}

// Token is a file the submitter wrote into an output directory.
type Token struct {
	Dir, Path, Nonce string
}

// Check runs the probe job when the runner is Remote and some of the paths
// are local. inputs are files, directories (their files are checked) or
// globs; outputs are directories, created if missing. Paths with a scheme
// (gs://, hdfs://) are skipped: every machine resolves them alike. It
// returns nil when the workers see every path as the submitter does.
func Check(ctx context.Context, runner string, inputs, outputs []string) (err error) {
	if !Remote(runner) {
		return nil
	}
	files, err := localFiles(inputs)
	if err != nil {
		return err
	}
	var tokens []Token
	var made []string // output directories the probe created
	defer func() {
		for _, t := range tokens {
			os.Remove(t.Path)
		}
		if err != nil {
			for _, d := range made {
				os.Remove(d) // only if still empty
			}
		}
	}()
	for _, dir := range outputs {
		if dir == "" || !storage.IsLocal(dir) {
			continue
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("probe: %s: %w", dir, err)
		}
		if _, err := os.Stat(abs); os.IsNotExist(err) {
			made = append(made, abs)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		t := Token{Dir: abs, Path: filepath.Join(abs, TokenName), Nonce: nonce()}
		if err := os.WriteFile(t.Path, []byte(t.Nonce), 0o644); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		tokens = append(tokens, t)
	}
	if len(files) == 0 && len(tokens) == 0 {
		return nil
	}
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &checkFn{Files: files, Tokens: tokens}, beam.Impulse(s))
	if err := beamx.Run(ctx, p); err != nil {
		// The runner wraps the worker's error in its own report: show the
		// user the findings alone, when they came back.
		found := unseen.FindAllString(strings.ReplaceAll(err.Error(), `\"`, `"`), -1)
		if len(found) == 0 {
			return fmt.Errorf("probe: checking that the workers see the local paths: %w", err)
		}
		return fmt.Errorf("%s\n(with --runner=%s --environment_type=%s the pipeline runs in workers that may be on other machines: give gs:// or hdfs:// paths, or paths on a filesystem that every worker mounts at the same place)",
			strings.Join(dedup(found), "\n"), runner, *jobopts.EnvironmentType)
	}
	return nil
}

// unseen matches checkFn's findings in a runner's error text.
var unseen = regexp.MustCompile(`the workers cannot see [^)]*\)`)

func dedup(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

// localFiles expands the local inputs into the files the workers must see.
func localFiles(inputs []string) ([]File, error) {
	var files []File
	for _, in := range inputs {
		if in == "" || !storage.IsLocal(in) {
			continue
		}
		matches, err := filepath.Glob(in)
		if err != nil {
			return nil, fmt.Errorf("probe: %s: %w", in, err)
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("probe: %w", err)
			}
			if !st.IsDir() {
				files = append(files, fileOf(m, st))
				continue
			}
			entries, err := os.ReadDir(m)
			if err != nil {
				return nil, fmt.Errorf("probe: %w", err)
			}
			for _, e := range entries {
				if e.Type().IsRegular() {
					if info, err := e.Info(); err == nil {
						files = append(files, fileOf(filepath.Join(m, e.Name()), info))
					}
				}
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

func fileOf(p string, st os.FileInfo) File {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	return File{Path: abs, Size: st.Size(), ModTime: st.ModTime().UnixNano()}
}

func nonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// checkFn runs on a worker: it finds the submitter's files and tokens, or
// fails naming each one it cannot see.
type checkFn struct {
	Files  []File
	Tokens []Token
}

func (fn *checkFn) ProcessElement(_ context.Context, _ []byte) error {
	host, _ := os.Hostname()
	var errs []error
	for _, f := range fn.Files {
		st, err := os.Stat(f.Path)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("the workers cannot see the input %s, a local file of the submitting machine (on worker host %q: %v)", f.Path, host, err))
		case st.Size() != f.Size || st.ModTime().UnixNano() != f.ModTime:
			errs = append(errs, fmt.Errorf("the workers cannot see the input %s of the submitting machine: worker host %q has another file at that path (%d bytes modified %s, not %d bytes modified %s)",
				f.Path, host, st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano), f.Size, time.Unix(0, f.ModTime).UTC().Format(time.RFC3339Nano)))
		}
	}
	for _, t := range fn.Tokens {
		b, err := os.ReadFile(t.Path)
		if err != nil || string(b) != t.Nonce {
			errs = append(errs, fmt.Errorf("the workers cannot see the output directory %s of the submitting machine (worker host %q does not find the file the submitter left there)", t.Dir, host))
		}
	}
	return errors.Join(errs...)
}
