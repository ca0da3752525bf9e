package nightly

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// childEnv, when set, makes the test binary a nightly run of the Config
// (JSON) it holds, for TestKilled to kill.
const childEnv = "LIGHTBEAM_NIGHTLY_CHILD"

// runChild runs the nightly run that childEnv describes and exits.
func runChild(cfgJSON string) {
	var c Config
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// As the CLI does: SIGTERM logs the run, frees the lock, exits 143.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c.OnInterrupt = func() { os.Exit(143) }
	if _, err := Run(ctx, c, io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// published lists the files a run publishes under out (local or gs://),
// by their path below out, with their bytes: all but the logs of when
// things ran (runs.jsonl, and compress's report.json with its timings).
func published(t *testing.T, out string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for p, b := range snapshot(t, out) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, strings.TrimSuffix(out, "/")), "/")
		if storage.Base(rel) == "report.json" || rel == LockFile {
			continue
		}
		files[rel] = b
	}
	return files
}

// A nightly run killed with SIGKILL at a random moment, then run again,
// publishes the same files, byte for byte, as a run never interrupted;
// and every state the kill left had LATEST pointing at a complete output.
func TestKilled(t *testing.T) {
	for _, where := range []string{"local", "gs"} {
		t.Run(where, func(t *testing.T) { testKilled(t, where) })
	}
}

func testKilled(t *testing.T, where string) {
	data, trainedDirs := trainedModels(t)
	root := t.TempDir()
	outRoot, kills := root, 6
	if where == "gs" {
		outRoot, kills = gcstest.Root(t), 3
	}
	models := filepath.Join(root, "models")
	copyModel(t, trainedDirs[0], models, "alpha")
	copyModel(t, trainedDirs[1], models, "beta")
	recipe := writeRecipe(t, root, "r.json", `{"sparsity": "0.5", "prune-steps": 2, "finetune-epochs": 1, "quant": "int8"}`)
	base := Config{Models: models, Recipe: recipe, Data: data, Gate: "min_ratio=1", Date: "2026-12-01", Accel: "go"}

	// The uninterrupted run is a child process too, so that its time
	// (start-up included) is the span the kills fall in.
	child := func(c Config) *exec.Cmd {
		cfg, _ := json.Marshal(c)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
		cmd.Stderr = os.Stderr
		return cmd
	}
	whole := base
	whole.Out = storage.Join(outRoot, "whole")
	t0 := time.Now()
	if err := child(whole).Run(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	want := published(t, whole.Out)
	if len(want) < 8 {
		t.Fatalf("the uninterrupted run published %d files", len(want))
	}

	rng := rand.New(rand.NewPCG(7, 8))
	for i := range kills {
		c := base
		c.Out = storage.Join(outRoot, fmt.Sprintf("killed-%d", i))
		cmd := child(c)
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(took)))
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		for name := range map[string]bool{"alpha": true, "beta": true} {
			if l := latest(t, c.Out, name); l != "" {
				if ok, err := storage.Exists(context.Background(), storage.Join(c.Out, l, MarkerFile)); !ok || err != nil {
					t.Errorf("kill %d after %v: %s/LATEST points at an output without its marker: %v", i, delay, name, err)
				}
			}
		}
		rep, err := Run(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatalf("kill %d after %v: the rerun: %v", i, delay, err)
		}
		got := published(t, c.Out)
		for f, b := range want {
			if got[f] != b {
				t.Errorf("kill %d after %v: %s differs from the uninterrupted run's (%d vs %d bytes)", i, delay, f, len(got[f]), len(b))
			}
		}
		for f := range got {
			if _, ok := want[f]; !ok {
				t.Errorf("kill %d after %v: the rerun left %s, which the uninterrupted run does not have", i, delay, f)
			}
		}
		t.Logf("kill %d after %v of %v: the rerun did %d, skipped %d; %s", i, delay.Round(time.Millisecond), took.Round(time.Millisecond), rep.Done, rep.Skipped, rep.LockNote)
	}
}

// Two runs started together on the same OUT: exactly one compresses; the
// other refuses (the lock is held) or, if it starts after the first ends,
// finds nothing to do.
func TestConcurrentRuns(t *testing.T) {
	for _, where := range []string{"local", "gs"} {
		t.Run(where, func(t *testing.T) { testConcurrentRuns(t, where) })
	}
}

func testConcurrentRuns(t *testing.T, where string) {
	data, trainedDirs := trainedModels(t)
	root := t.TempDir()
	out := filepath.Join(root, "out")
	if where == "gs" {
		out = storage.Join(gcstest.Root(t), "out")
	}
	models := filepath.Join(root, "models")
	copyModel(t, trainedDirs[0], models, "alpha")
	copyModel(t, trainedDirs[1], models, "beta")
	c := Config{Models: models, Out: out, Recipe: writeRecipe(t, root, "r.json", `{"quant": "int8"}`), Data: data, Date: "2026-12-01", Accel: "go"}
	cfg, _ := json.Marshal(c)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
		var b strings.Builder
		cmd.Stderr = &b
		cmds, outs = append(cmds, cmd), append(outs, &b)
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	refused := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			if !strings.Contains(outs[i].String(), "holds the lock") {
				t.Fatalf("run %d failed: %v\n%s", i, err, outs[i].String())
			}
			refused++
		}
	}
	lines := runLines(t, c.Out)
	done, locked := 0, 0
	for _, l := range lines {
		done += l.Done
		if l.Done != 0 && l.Done != 2 {
			t.Errorf("a run did %d of the 2 models", l.Done)
		}
		if strings.Contains(l.Error, "holds the lock") {
			locked++
		}
	}
	if done != 2 || len(lines) != 2 || locked != refused {
		t.Errorf("%d runs logged (%d refused by the lock), %d refused, %d models done in all; want one run to do both", len(lines), locked, refused, done)
	}
	t.Logf("%d logged, %d refused the lock", len(lines), refused)
}

// A run stopped with SIGTERM (systemd, Kubernetes) logs its line, frees
// the lock at once, and the next run completes the outputs.
func TestTerminated(t *testing.T) {
	data, trainedDirs := trainedModels(t)
	root := t.TempDir()
	models := filepath.Join(root, "models")
	copyModel(t, trainedDirs[0], models, "alpha")
	copyModel(t, trainedDirs[1], models, "beta")
	c := Config{Models: models, Out: filepath.Join(root, "out"), Recipe: writeRecipe(t, root, "r.json", `{"sparsity": "0.5", "prune-steps": 3, "finetune-epochs": 2, "quant": "int8"}`), Data: data, Date: "2026-12-01", Accel: "go"}
	cfg, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal once the run holds the lock, so that it is mid-run.
	lockPath := filepath.Join(c.Out, LockFile)
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(lockPath); err == nil {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("the run stopped mid-run: %v, want exit status 143", err)
	}
	if _, err := os.Stat(lockPath); !os.IsNotExist(err) {
		t.Errorf("the stopped run left its lock: %v", err)
	}
	lines := runLines(t, c.Out)
	if len(lines) != 1 || !strings.Contains(lines[0].Error, "interrupted") {
		t.Errorf("the stopped run's line: %+v", lines)
	}
	rep, err := Run(context.Background(), c, io.Discard)
	if err != nil || rep.Done != 2 || rep.LockNote != "" {
		t.Errorf("the run after: %v, %+v", err, rep)
	}
	if latest(t, c.Out, "alpha") != "2026-12-01/alpha" {
		t.Errorf("LATEST after the rerun: %q", latest(t, c.Out, "alpha"))
	}
}

// A run that ends by itself is not an interruption when its context ends
// right after (the CLI cancels its signal context on return): OnInterrupt
// is never called and runs.jsonl has one line a run. A run with nothing to
// do returns before the watcher goroutine first runs, which is the race.
func TestEndedRunIsNotInterrupted(t *testing.T) {
	root := t.TempDir()
	models := filepath.Join(root, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	recipe := writeRecipe(t, root, "r.json", `{"quant": "int8"}`)
	out := filepath.Join(root, "out")
	// On one P the watcher does not run before Run returns unless Run
	// blocks, so both of its cases are often ready when it first selects.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var interrupted atomic.Int32
	const runs = 200
	for range runs {
		ctx, cancel := context.WithCancel(context.Background())
		c := Config{Models: models, Recipe: recipe, Out: out, Accel: "go", OnInterrupt: func() { interrupted.Add(1) }}
		if _, err := Run(ctx, c, io.Discard); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	time.Sleep(100 * time.Millisecond) // let any watcher that would misfire do so
	if n := interrupted.Load(); n != 0 {
		t.Errorf("OnInterrupt was called %d times after %d runs that ended by themselves", n, runs)
	}
	b, err := os.ReadFile(filepath.Join(out, RunsFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(b, []byte("\n")); lines != runs {
		t.Errorf("runs.jsonl has %d lines after %d runs", lines, runs)
	}
}
