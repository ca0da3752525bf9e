package train

// A NameNode that dies while training runs on hdfs://, against a real HDFS
// (a MiniDFSCluster of the test's own, hdfstest.Start): the run fails with
// an error that says so, leaves no partial file under a final name, and,
// once HDFS is back, --resume ends bit-identical to an uninterrupted run.
// The chain preprocess → train → resume → compress → evaluate on hdfs:// is
// pipelines/compress's TestHDFSEndToEnd. Without java, javac and mvn it
// skips, except under CI=true, where it fails.

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

func TestHDFSNamenodeDiesMidRun(t *testing.T) {
	ctx := context.Background()
	cluster := hdfstest.Start(t)
	root := cluster.URL + "/kill"
	in := storage.Join(root, "in", "blobs.csv")
	writeGCS(t, in, blobsCSV(t, 3000)) // the helpers of gcs_test.go work on any store
	prep := storage.Join(root, "prep")
	if _, err := preprocess.Run(ctx, csvConfig(in, prep)); err != nil {
		t.Fatal(err)
	}
	c := Config{Data: prep, Out: storage.Join(root, "train"), Model: "mlp", Hidden: []int{16}, Epochs: 12, Batch: 128, Accel: "go"}
	done := make(chan error, 1)
	go func() {
		var log bytes.Buffer
		_, err := Run(ctx, c, &log)
		done <- err
	}()
	// Stop the cluster once the run is under way: after its first epoch.
	deadline := time.Now().Add(2 * time.Minute)
	for !exists(t, runCheckpoint(c.Out, 1)) {
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before the namenode was stopped", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint of epoch 1 after 2 minutes")
		}
	}
	cluster.Stop(t)
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the run did not end within 3 minutes of the namenode's stop")
	}
	addr := strings.TrimPrefix(cluster.URL, "hdfs://")
	if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), root) {
		t.Fatalf("the run with its namenode stopped: error %v, want \"does not answer\" naming %s and a path under %s", err, addr, root)
	}
	t.Logf("the error: %v", err)

	cluster.Restart(t)
	// No half output: no model or report, and every checkpoint under its
	// final name is whole.
	for _, name := range []string{"model.safetensors", "report.json", "curves.png"} {
		if exists(t, storage.Join(c.Out, name)) {
			t.Errorf("the failed run left %s", name)
		}
	}
	ckpts := list(t, storage.Join(c.Out, "checkpoints", "epoch-*.safetensors"))
	if len(ckpts) < 2 || len(ckpts) > c.Epochs {
		t.Fatalf("checkpoints after the failure: %q, want epochs 0, 1 and maybe more, not all %d", ckpts, c.Epochs+1)
	}
	for _, p := range ckpts {
		if _, err := model.DecodeCheckpoint(readGCS(t, p), p); err != nil {
			t.Errorf("a checkpoint left by the failed run is not whole: %v", err)
		}
	}

	// --resume, on the restarted cluster, ends where an uninterrupted run
	// does (plain, on the local copy of the data: the Beam run's bits).
	c.Resume = true
	var log bytes.Buffer
	if _, err := Run(ctx, c, &log); err != nil {
		t.Fatalf("resume after the restart: %v", err)
	}
	if !strings.Contains(log.String(), "resuming after epoch") {
		t.Errorf("the resumed run did not resume; its log:\n%s", log.String())
	}
	local := baseConfig(t, 4)
	local.Epochs, local.Plain = c.Epochs, true
	run(t, local)
	if d := maxDiff(params(t, local.Out, c.Epochs), gcsParams(t, c.Out, c.Epochs)); d != 0 {
		t.Errorf("the run resumed after the namenode's restart differs from an uninterrupted one by %g", d)
	}
}
