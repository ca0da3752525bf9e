package hdfstest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/internal/svcscript"
	"github.com/lightbeam-ml/lightbeam/storage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

func TestFindScript(t *testing.T) {
	script, err := svcscript.Find("hdfs.sh")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "..", "..", "scripts", "hdfs.sh"); filepath.Clean(want) != script {
		t.Errorf("svcscript.Find = %s, want %s", script, want)
	}
}

// Root's directories are distinct, empty, and on a cluster that takes
// writes.
func TestRoot(t *testing.T) {
	a, b := Root(t), Root(t)
	prefix := shared.url + Dir + "/" + shared.run + "/TestRoot-"
	if a == b || !strings.HasPrefix(a, prefix) || !strings.HasPrefix(b, prefix) {
		t.Errorf("Root returned %s and %s, want two different directories starting with %s", a, b, prefix)
	}
	ctx := context.Background()
	if got, err := storage.List(ctx, a+"/**"); err != nil || len(got) != 0 {
		t.Errorf("a fresh Root holds %q, %v", got, err)
	}
	p := storage.Join(a, "x", "hello.txt")
	if err := storage.WriteBytes(ctx, p, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := storage.ReadFile(ctx, p); err != nil || string(got) != "hello" {
		t.Errorf("read back %q, %v", got, err)
	}
}

// TestHelperProcess is the child of TestClusterStops: it starts a cluster,
// prints its address, and exits without Stop.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("HDFSTEST_HELPER") == "" {
		t.Skip("run by TestClusterStops")
	}
	root := Root(t)
	addr := strings.TrimPrefix(shared.url, "hdfs://")
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		os.Stdout.WriteString("UP ")
	}
	os.Stdout.WriteString("ROOT=" + root + "\n")
	os.Exit(0) // no TestMain epilogue: only the watchdog can stop the cluster
}

// The cluster a test process started does not outlive it: the watchdog
// stops it when the process exits without Stop.
func TestClusterStops(t *testing.T) {
	Root(t) // skip or fail here, as the child would
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HDFS_TEST_URL=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HDFSTEST_HELPER=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	_, root, ok := strings.Cut(strings.TrimSpace(string(out)), "UP ROOT=hdfs://")
	addr, _, _ := strings.Cut(root, "/")
	if !ok || addr == "" || "hdfs://"+addr == shared.url {
		t.Fatalf("helper printed %q, want UP ROOT= and a directory on a running cluster of its own", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the cluster at %s still answers 30 s after its test process exited", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Start, Stop and Restart are tested by storage's TestHDFSNamenodeDown.
