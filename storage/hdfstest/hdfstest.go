// Package hdfstest gives tests hdfs:// directories on a real HDFS: Hadoop's
// MiniDFSCluster (a NameNode and a DataNode in one JVM), run as a separate
// process by the module's scripts/hdfs.sh (which fetches Hadoop with Maven
// and compiles its launcher into the cache the first time), or the cluster
// HDFS_TEST_URL already names ("hdfs://host:port").
//
//	func TestX(t *testing.T) {
//		root := hdfstest.Root(t) // hdfs://localhost:PORT/lightbeam-test/<run>/TestX-1
//		...
//	}
//
// The shared cluster starts on the first call to Root and stops when the
// test process exits, however it exits (a watchdog process waits for it), or
// earlier at Stop. A test that must stop a cluster (a NameNode that dies
// mid-run) starts one of its own with Start. Without java, javac and mvn,
// Root and Start skip the test, except under CI=true, where they fail it.
package hdfstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/internal/svcscript"
)

// Dir is the directory of the shared cluster that Root's directories are in.
const Dir = "/lightbeam-test"

var shared struct {
	once sync.Once
	err  error  // why there is no cluster
	url  string // hdfs://host:port
	run  string // unique to this test process: "run-<nanos>-<pid>"
	n    atomic.Int64
	svc  *svcscript.Service // set when this process started the cluster
}

// Root returns an hdfs:// directory that no other call, test or test
// process gets, on the shared cluster, which it starts on first use.
// Nothing exists there yet. Without a cluster it skips the test with the
// reason, or fails it if CI is "true".
func Root(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		shared.run = fmt.Sprintf("run-%d-%d", time.Now().UnixNano(), os.Getpid())
		if shared.url = strings.TrimSuffix(os.Getenv("HDFS_TEST_URL"), "/"); shared.url != "" {
			return
		}
		shared.svc, shared.err = start(false, "", "")
		if shared.err == nil {
			shared.url = shared.svc.Last
		}
	})
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return fmt.Sprintf("%s%s/%s/%s-%d", shared.url, Dir, shared.run, svcscript.SafeName(t.Name()), shared.n.Add(1))
}

// Stop stops the shared cluster if this process started it, and waits
// until it has. Call it at the end of TestMain, after m.Run; Root must not
// be called after it. Without a call, the cluster stops when the process
// exits.
func Stop() {
	if shared.svc != nil {
		shared.svc.Stop()
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("HDFS (scripts/hdfs.sh): %v", err)
	}
	t.Skipf("no HDFS for this test (scripts/hdfs.sh needs java, javac and mvn, or set HDFS_TEST_URL): %v", err)
}

// Cluster is a MiniDFSCluster of one test's own, which it may stop and
// restart on the same port and storage.
type Cluster struct {
	URL string // hdfs://localhost:PORT

	port, data string
	svc        *svcscript.Service
}

// Start starts a cluster for t alone; it stops when t ends. Without java,
// javac and mvn it skips t, except under CI=true, where it fails it.
func Start(t testing.TB) *Cluster {
	t.Helper()
	port, err := svcscript.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.MkdirTemp("", "lightbeam-hdfs-data-*")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := start(false, port, data)
	if err != nil {
		os.RemoveAll(data)
		unavailable(t, err)
	}
	c := &Cluster{URL: svc.Last, port: port, data: data, svc: svc}
	t.Cleanup(func() {
		c.svc.Stop()
		os.RemoveAll(data)
	})
	return c
}

// Stop stops the cluster (the JVM, NameNode and DataNode with it) and waits
// until it has; its storage stays for Restart.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.svc.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Restart starts the stopped cluster again on its port and storage.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	svc, err := start(true, c.port, c.data)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Last != c.URL {
		t.Fatalf("the restarted cluster is at %s, was %s", svc.Last, c.URL)
	}
	c.svc = svc
}

// start runs scripts/hdfs.sh start on port (a free one if empty) with
// storage data (the script's default under the run directory if empty),
// restarting on what data holds if keep, and starts its watchdog.
func start(keep bool, port, data string) (*svcscript.Service, error) {
	for _, tool := range []string{"java", "javac", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not on PATH (bash scripts/install-deps.sh default-jdk-headless maven)", tool)
		}
	}
	if port == "" {
		var err error
		if port, err = svcscript.FreePort(); err != nil {
			return nil, err
		}
	}
	env := []string{"HDFS_PORT=" + port}
	if data != "" {
		env = append(env, "HDFS_DATA="+data)
	}
	if keep {
		env = append(env, "HDFS_KEEP=1")
	}
	return svcscript.Start("hdfs.sh", "the HDFS cluster", "hdfs://", env...)
}
