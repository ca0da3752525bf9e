package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/cli/clitest"
)

// A full disk: the command's --out is on a small tmpfs, mounted in a user
// and mount namespace (no root needed) and filled with a filler file. The
// command must fail naming the full disk and leave no manifest, model or
// temporary file; once the filler is removed, the rerun (train with
// --resume) completes. The namespace, and the tmpfs with it, ends with the
// shell, so the shell lists what the failure left.

// tmpfsShell runs script under sh in a new user and mount namespace with
// a tmpfs of size at dir, and returns its output. It skips the test where
// the machine refuses user namespaces (containers often do), unless
// LIGHTBEAM_REQUIRE_TMPFS=1 says this machine must allow them.
func tmpfsShell(t *testing.T, dir, size, script string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	probe := exec.Command("unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs "+dir+" && umount "+dir)
	if out, err := probe.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("this machine refuses a tmpfs in a user namespace (unshare -rm: %v: %s); the full-disk test needs it", err, strings.TrimSpace(string(out)))
		if os.Getenv("LIGHTBEAM_REQUIRE_TMPFS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	full := fmt.Sprintf("mount -t tmpfs -o size=%s tmpfs %s || exit 99\n%s", size, dir, script)
	cmd := exec.Command("unshare", "-rm", "sh", "-c", full)
	cmd.Env = append(os.Environ(), "LIGHTBEAM_LOG_LEVEL=error")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the namespace's shell: %v\n%s", err, out)
	}
	return string(out)
}

// section returns the lines of out between "== name" and the next "==".
func section(out, name string) string {
	var body []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "== ") {
			in = line == "== "+name
			continue
		}
		if in {
			body = append(body, line)
		}
	}
	return strings.Join(body, "\n")
}

func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the CLI")
	}
	bin := clitest.Binary(t)
	root := t.TempDir()
	csv := filepath.Join(root, "in.csv")
	writeKillCSV(t, csv, 40000, 24)
	small := filepath.Join(root, "small.csv")
	writeKillCSV(t, small, 8000, 24)
	data := filepath.Join(root, "data")
	clitest.Run(t, "preprocess", "--format=csv", "--input="+small, "--out="+data, "--shards=2")

	for _, tc := range []struct {
		name     string
		args     string // the command, its --out under $D
		rerun    string
		size     string // of the tmpfs
		leave    int    // KiB the filler leaves free
		phase    string // where the disk fills up
		finished []string
	}{
		{
			name: "preprocess", args: fmt.Sprintf("preprocess --format=csv --input=%s --out=$D/out --shards=2", csv),
			size: "16m", leave: 600, phase: "transforms.SpillRuns", finished: []string{"manifest.json", "report.json"},
		},
		{
			// the runs fit, the shards do not
			name: "preprocess-shards", args: fmt.Sprintf("preprocess --format=csv --input=%s --out=$D/out --shards=2", csv),
			size: "16m", leave: 4600, phase: "transforms.WriteShards", finished: []string{"manifest.json", "report.json"},
		},
		{
			name: "train", args: fmt.Sprintf("train --data=%s --out=$D/out --model=mlp --hidden=256 --optimizer=adam --epochs=4 --accel=go", data),
			rerun: " --resume", size: "2m", leave: 300, phase: "writing checkpoint", finished: []string{"model.safetensors", "report.json", "curves.png"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(root, tc.name+"-disk")
			cmd := bin + " " + strings.ReplaceAll(tc.args, "$D", d)
			script := fmt.Sprintf(`
free=$(df -k %[1]s | awk 'NR==2 {print $4}')
dd if=/dev/zero of=%[1]s/filler bs=1k count=$((free - %[2]d)) 2>/dev/null
echo "== run"
%[3]s 2>&1
rc=$?
echo "== status"
echo $rc
echo "== left"
(cd %[1]s/out 2>/dev/null && find . -type f | sort)
rm %[1]s/filler
echo "== rerun"
%[3]s%[4]s 2>&1
rc=$?
echo "== rerun status"
echo $rc
echo "== after"
(cd %[1]s/out && find . -type f | sort)
`, d, tc.leave, cmd, tc.rerun)
			out := tmpfsShell(t, d, tc.size, script)
			run, status, left := section(out, "run"), strings.TrimSpace(section(out, "status")), section(out, "left")
			if status == "0" {
				t.Fatalf("%s succeeded on a full disk; raise the output or lower the space left:\n%s", tc.name, out)
			}
			if !strings.Contains(run, "no space left on device") || !strings.Contains(run, d+"/out") {
				t.Errorf("the failure does not say the disk is full, naming the output:\n%s", run)
			}
			if tc.phase != "" && !strings.Contains(run, tc.phase) {
				t.Errorf("the disk did not fill in %s (the sizes need retuning):\n%s", tc.phase, run)
			}
			for _, f := range strings.Fields(left) {
				name := filepath.Base(f)
				if isTemp(name) || strings.HasPrefix(f, "./tmp/") || strings.HasPrefix(name, ".") {
					t.Errorf("a temporary file is left: %s", f)
				}
				for _, fin := range tc.finished {
					if f == "./"+fin {
						t.Errorf("the failed run left %s, which says the output is finished", f)
					}
				}
				if name == "LOCK" {
					t.Errorf("the failed run left its lock")
				}
			}
			if s := strings.TrimSpace(section(out, "rerun status")); s != "0" {
				t.Errorf("the rerun with space again failed (%s):\n%s", s, section(out, "rerun"))
			}
			for _, fin := range tc.finished {
				if !strings.Contains(section(out, "after"), "./"+fin+"\n") {
					t.Errorf("the rerun did not write %s:\n%s", fin, section(out, "after"))
				}
			}
			t.Logf("%s on a full disk: %s; left: %s", tc.name, lastLine(run), strings.Join(strings.Fields(left), " "))
		})
	}
}
