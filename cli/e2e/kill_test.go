package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/cli/clitest"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// The kill harness: each command is killed with SIGKILL at random moments
// (LIGHTBEAM_KILL_SEEDS seeds each, 2 by default; scripts/killtest.sh runs
// more), and after each kill
//
//   - every file in the output that a reader would take as finished
//     verifies: a manifest whose shards match their checksums, safetensors
//     that decode, artifacts that open, JSON that parses, PNGs that decode;
//   - the rerun (train with --resume) succeeds, and ends with the same
//     files, byte for byte, as a run never interrupted (report.json, which
//     records timings, aside), no lock and no temporary file left.

// killSeeds is the number of kills per command.
func killSeeds(t *testing.T) int {
	n := 2
	if s := os.Getenv("LIGHTBEAM_KILL_SEEDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LIGHTBEAM_KILL_SEEDS=%q: want a positive number", s)
		}
	}
	return n
}

// writeKillCSV writes a classification CSV of n rows and d features
// (three classes, learnable) at path.
func writeKillCSV(t *testing.T, path string, n, d int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for j := range d {
		fmt.Fprintf(w, "f%d,", j)
	}
	fmt.Fprintln(w, "label")
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, d)
	for range n {
		for j := range x {
			x[j] = rng.NormFloat64()
			fmt.Fprintf(w, "%.5f,", x[j])
		}
		label := 0
		if x[0]+x[1] > 0 {
			label++
		}
		if x[2]-x[3] > 0.5 {
			label++
		}
		fmt.Fprintln(w, label)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeKillCheckpoint writes a safetensors checkpoint of three 2048×1024
// F32 matrices and a bias at path.
func writeKillCheckpoint(t *testing.T, path string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var ts []model.Tensor
	for i := range 3 {
		w := make([]float32, 2048*1024)
		for j := range w {
			w[j] = float32(rng.NormFloat64() * 0.02)
		}
		ts = append(ts, model.Tensor{Name: fmt.Sprintf("layers.%d.weight", i), Shape: []int{2048, 1024}, Data: w})
	}
	ts = append(ts, model.Tensor{Name: "layers.2.bias", Shape: []int{2048}, Data: make([]float32, 2048)})
	if err := model.WriteSafetensors(path, ts, nil); err != nil {
		t.Fatal(err)
	}
}

// isTemp reports whether the file name is a temporary file of an atomic
// write (internal/localfile, storage.WriteFile, the shard and run writers).
func isTemp(name string) bool {
	return strings.Contains(name, ".tmp") || strings.HasSuffix(name, ".partial")
}

// outputFiles lists the files under dir by their slash path below it.
func outputFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return files
}

// publishedFiles are the files of a finished output that must not depend on
// when or how often it ran: all but report.json (it records timings).
func publishedFiles(t *testing.T, dir string) map[string][]byte {
	files := outputFiles(t, dir)
	for name := range files {
		if storage.Base(name) == "report.json" {
			delete(files, name)
		}
	}
	return files
}

// verifyVisible checks every file under dir that a reader could take for a
// finished one; temporary files are skipped. A manifest's shards are read
// in full (size, rows, SHA-256).
func verifyVisible(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || isTemp(d.Name()) {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var verr error
		switch {
		case d.Name() == shardio.ManifestName:
			verr = verifyManifest(filepath.Dir(p))
		case d.Name() == storage.LockName:
			var li storage.LockInfo
			verr = json.Unmarshal(raw, &li)
		case strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".jsonl"):
			verr = verifyJSON(raw, p)
		case strings.HasSuffix(p, ".safetensors"):
			_, _, verr = model.DecodeSafetensors(raw, p)
		case strings.HasSuffix(p, ".lbc"):
			_, verr = artifact.Decode(raw, p)
		case strings.HasSuffix(p, ".gguf"):
			_, _, verr = gguf.Read(bytes.NewReader(raw), int64(len(raw)), p)
		case strings.HasSuffix(p, ".png"):
			_, verr = png.Decode(bytes.NewReader(raw))
		}
		if verr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, verr))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// verifyJSON checks a JSON file, or each line of a JSON-lines file.
func verifyJSON(raw []byte, p string) error {
	if strings.HasSuffix(p, ".jsonl") {
		for i, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
			if len(raw) > 0 && !json.Valid(line) {
				return fmt.Errorf("line %d is not JSON", i+1)
			}
		}
		return nil
	}
	if !json.Valid(raw) {
		return errors.New("not JSON")
	}
	return nil
}

// verifyManifest reads the manifest in dir and every shard it lists.
func verifyManifest(dir string) error {
	ctx := context.Background()
	m, err := shardio.ReadManifest(ctx, dir)
	if err != nil {
		return err
	}
	for name := range m.Splits {
		r, err := shardio.OpenSplit(ctx, dir, m, name)
		if err != nil {
			return err
		}
		for {
			if _, err = r.Next(); err != nil {
				break
			}
		}
		r.Close()
		if err != io.EOF {
			return err
		}
	}
	return nil
}

// killCase is one command under the harness.
type killCase struct {
	name  string
	args  func(out string) []string // the command
	rerun func(out string) []string // the command after a kill
}

// runKilled kills c at random moments and checks what each kill left and
// what the rerun made against an uninterrupted run.
func runKilled(t *testing.T, root string, c killCase, seeds int) {
	whole := filepath.Join(root, c.name+"-whole")
	t0 := time.Now()
	clitest.Run(t, c.args(whole)...)
	took := time.Since(t0)
	want := publishedFiles(t, whole)
	if len(want) == 0 {
		t.Fatalf("the uninterrupted %s published %d files", c.name, len(want))
	}
	h := fnv.New64a()
	h.Write([]byte(c.name))
	rng := rand.New(rand.NewPCG(h.Sum64(), 1))
	for seed := range seeds {
		out := filepath.Join(root, fmt.Sprintf("%s-killed-%d", c.name, seed))
		cmd := clitest.Command(t, c.args(out)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill what it started too
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(took)))
		time.Sleep(delay)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		waitErr := cmd.Wait()
		left := outputFiles(t, out)
		if err := verifyVisible(out); err != nil {
			t.Errorf("%s killed after %v: a file is visible that does not verify:\n%v", c.name, delay, err)
		}
		// A run that exited by itself before the kill landed, or was killed
		// after finishing its output (while it released the lock), is
		// finished: the rerun rightly refuses to replace it without
		// --overwrite, and the output is compared as it is.
		finished := waitErr == nil
		if !finished {
			rerun, err := clitest.Command(t, c.rerun(out)...).CombinedOutput()
			if err != nil && !bytes.Contains(rerun, []byte("pass --overwrite")) {
				t.Fatalf("%s killed after %v (%v), the rerun failed: %v\n%s", c.name, delay, waitErr, err, rerun)
			}
			finished = err != nil
		}
		if _, err := os.Stat(filepath.Join(out, "report.json")); finished && err != nil {
			t.Errorf("%s killed after %v: the output is taken as finished but has no report.json: %v", c.name, delay, err)
		}
		if err := verifyVisible(out); err != nil {
			t.Errorf("%s killed after %v, rerun: %v", c.name, delay, err)
		}
		got := publishedFiles(t, out)
		var diff []string
		for f, b := range want {
			if g, ok := got[f]; !ok {
				diff = append(diff, f+" missing")
			} else if !bytes.Equal(g, b) {
				diff = append(diff, fmt.Sprintf("%s differs (%d vs %d bytes)", f, len(g), len(b)))
			}
		}
		for f := range got {
			if _, ok := want[f]; !ok {
				diff = append(diff, f+" is extra")
			}
		}
		sort.Strings(diff)
		verdict := "the rerun matched"
		if finished {
			verdict = "it had finished before the kill; its output matched"
		}
		if len(diff) > 0 {
			verdict = "the rerun DIFFERED"
			t.Errorf("%s killed after %v: the rerun's output is not the uninterrupted run's: %s", c.name, delay, strings.Join(diff, "; "))
		}
		names := make([]string, 0, len(left))
		for f := range left {
			names = append(names, f)
		}
		sort.Strings(names)
		t.Logf("%s: killed after %v of %v (%d files there: %s); %s", c.name, delay.Round(time.Millisecond), took.Round(time.Millisecond), len(left), abbreviate(names, 6), verdict)
	}
}

func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, " ")
	}
	return strings.Join(names[:n], " ") + fmt.Sprintf(" … (%d more)", len(names)-n)
}

// preprocess, train, compress and the checkpoint job killed at random
// moments, then rerun.
func TestKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill harness runs the CLI many times")
	}
	seeds := killSeeds(t)
	root := t.TempDir()
	csv := filepath.Join(root, "in.csv")
	writeKillCSV(t, csv, 60000, 24)
	preprocessArgs := func(out string) []string {
		return []string{"preprocess", "--format=csv", "--input=" + csv, "--out=" + out, "--shards=3", "--block-rows=2048"}
	}
	data := filepath.Join(root, "data")
	clitest.Run(t, preprocessArgs(data)...)
	trainArgs := func(out string) []string {
		return []string{"train", "--data=" + data, "--out=" + out, "--model=mlp", "--hidden=16", "--epochs=3", "--batch=512", "--accel=go"}
	}
	trained := filepath.Join(root, "trained")
	clitest.Run(t, trainArgs(trained)...)
	compressArgs := func(out string) []string {
		return []string{"compress", "--model=" + trained, "--data=" + data, "--out=" + out, "--sparsity=0.5", "--prune-steps=2", "--finetune-epochs=1", "--quant=int8", "--accel=go"}
	}
	// The checkpoint job on a 24 MiB checkpoint in 1 MiB chunks: to GGUF
	// Q8_0 (a file assembled from chunk parts) and to an int8 artifact v2
	// (a file written in place by chunks).
	ckpt := filepath.Join(root, "ckpt.safetensors")
	writeKillCheckpoint(t, ckpt)
	ckptArgs := func(quant, format string) func(out string) []string {
		return func(out string) []string {
			return []string{"compress", "--checkpoint=" + ckpt, "--quant=" + quant, "--format=" + format, "--chunk-mb=1", "--out=" + out}
		}
	}
	cases := []killCase{
		{name: "preprocess", args: preprocessArgs, rerun: preprocessArgs},
		{name: "train", args: trainArgs, rerun: func(out string) []string { return append(trainArgs(out), "--resume") }},
		{name: "compress", args: compressArgs, rerun: func(out string) []string { return append(compressArgs(out), "--resume") }},
		{name: "checkpoint-gguf", args: ckptArgs("q8_0", "gguf"), rerun: ckptArgs("q8_0", "gguf")},
		{name: "checkpoint-int8", args: ckptArgs("int8", "lightbeam"), rerun: ckptArgs("int8", "lightbeam")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runKilled(t, root, c, seeds) })
	}
}

// A preprocess killed after its manifest but before report.json (the last
// file it writes) is redone by the rerun, not refused as finished.
func TestKilledAfterManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the CLI")
	}
	root := t.TempDir()
	csv := filepath.Join(root, "in.csv")
	writeKillCSV(t, csv, 5000, 8)
	args := func(out string) []string {
		return []string{"preprocess", "--format=csv", "--input=" + csv, "--out=" + out, "--shards=2"}
	}
	whole, killed := filepath.Join(root, "whole"), filepath.Join(root, "killed")
	clitest.Run(t, args(whole)...)
	clitest.Run(t, args(killed)...)
	if err := os.Remove(filepath.Join(killed, "report.json")); err != nil {
		t.Fatal(err)
	}
	clitest.Run(t, args(killed)...)
	want, got := publishedFiles(t, whole), publishedFiles(t, killed)
	if len(got) != len(want) {
		t.Errorf("the rerun left %d files, the uninterrupted run %d", len(got), len(want))
	}
	for f, b := range want {
		if !bytes.Equal(got[f], b) {
			t.Errorf("%s differs after the rerun", f)
		}
	}
	if _, err := os.Stat(filepath.Join(killed, "report.json")); err != nil {
		t.Errorf("the rerun wrote no report.json: %v", err)
	}
	// A finished output is still refused without --overwrite.
	if b, err := clitest.Command(t, args(killed)...).CombinedOutput(); err == nil || !strings.Contains(string(b), "--overwrite") {
		t.Errorf("a finished output was not refused: %v\n%s", err, b)
	}
}
