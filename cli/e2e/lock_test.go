package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/cli/clitest"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// lockCases are the three commands that take their --out's lock, each as
// a function of the output directory, on small inputs made once.
func lockCases(t *testing.T) (root string, cases map[string]func(out string) []string) {
	root = t.TempDir()
	csv := filepath.Join(root, "in.csv")
	writeKillCSV(t, csv, 20000, 16)
	pre := func(out string) []string {
		return []string{"preprocess", "--format=csv", "--input=" + csv, "--out=" + out, "--shards=2"}
	}
	data := filepath.Join(root, "data")
	clitest.Run(t, pre(data)...)
	tr := func(out string) []string {
		return []string{"train", "--data=" + data, "--out=" + out, "--epochs=2", "--accel=go"}
	}
	trained := filepath.Join(root, "trained")
	clitest.Run(t, tr(trained)...)
	co := func(out string) []string {
		return []string{"compress", "--model=" + trained, "--data=" + data, "--out=" + out, "--sparsity=0.5", "--prune-steps=1", "--finetune-epochs=1", "--quant=int8", "--accel=go"}
	}
	return root, map[string]func(string) []string{"preprocess": pre, "train": tr, "compress": co}
}

// Two runs of a command started at once on one --out: exactly one
// succeeds; the other refuses, with a message naming the output and the
// run that holds it (or, if it started after the first had finished,
// because the output is finished).
func TestConcurrentOut(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the CLI")
	}
	root, cases := lockCases(t)
	for _, name := range []string{"preprocess", "train", "compress"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(root, name+"-twice")
			var cmds [2]*exec.Cmd
			var logs [2]strings.Builder
			for i := range cmds {
				cmds[i] = clitest.Command(t, cases[name](out)...)
				cmds[i].Stdout, cmds[i].Stderr = &logs[i], &logs[i]
			}
			for _, c := range cmds {
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
			}
			ok, locked := 0, 0
			for i, c := range cmds {
				err := c.Wait()
				log := logs[i].String()
				switch {
				case err == nil:
					ok++
				case strings.Contains(log, "--out "+out+" is in use by another run") && strings.Contains(log, "another run holds the lock: ") && strings.Contains(log, filepath.Join(out, storage.LockName)):
					locked++
				case strings.Contains(log, "--overwrite"):
					// started after the other had finished
				default:
					t.Errorf("run %d failed unclearly: %v\n%s", i, err, log)
				}
			}
			if ok != 1 {
				t.Errorf("%d of the two runs succeeded, want exactly one:\n%s\n---\n%s", ok, logs[0].String(), logs[1].String())
			}
			if _, err := os.Stat(filepath.Join(out, storage.LockName)); !os.IsNotExist(err) {
				t.Errorf("the lock is still there after both ended: %v", err)
			}
			t.Logf("%s: one succeeded, %d refused by the lock", name, locked)
		})
	}
}

// A lock held by a live run refuses the command and names the holder; a
// lock left by a dead process of this host, or one expired, is taken over
// and the command runs.
func TestStaleLock(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the CLI")
	}
	root, cases := lockCases(t)
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	writeLock := func(out, owner string, expires time.Time) {
		t.Helper()
		b, _ := json.Marshal(storage.LockInfo{Owner: owner, Acquired: time.Now().UTC(), Expires: expires})
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, storage.LockName), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	live := fmt.Sprintf("%s:%d", host, os.Getpid())
	for _, name := range []string{"preprocess", "train", "compress"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(root, name)
			writeLock(out, live, time.Now().Add(time.Hour))
			b, err := clitest.Command(t, cases[name](out)...).CombinedOutput()
			if err == nil || !strings.Contains(string(b), "--out "+out+" is in use by another run") || !strings.Contains(string(b), live) {
				t.Fatalf("a live holder's lock: %v\n%s", err, b)
			}
			if _, err := os.Stat(filepath.Join(out, "report.json")); !os.IsNotExist(err) {
				t.Errorf("the refused run wrote its output: %v", err)
			}
			// A killed run of this host: its pid no longer runs.
			writeLock(out, fmt.Sprintf("%s:%d", host, dead.Process.Pid), time.Now().Add(time.Hour))
			log := clitest.Run(t, cases[name](out)...)
			if !strings.Contains(log, "its process is no longer running") {
				t.Errorf("the takeover of a dead run's lock is not said:\n%s", log)
			}
			// Another host's lock, expired.
			writeLock(out, "elsewhere:1", time.Now().Add(-time.Minute))
			args := append(cases[name](out), "--overwrite")
			if log := clitest.Run(t, args...); !strings.Contains(log, "took over the lock") || !strings.Contains(log, "expired") {
				t.Errorf("the takeover of an expired lock is not said:\n%s", log)
			}
			if _, err := os.Stat(filepath.Join(out, storage.LockName)); !os.IsNotExist(err) {
				t.Errorf("the lock is still there: %v", err)
			}
		})
	}
}
