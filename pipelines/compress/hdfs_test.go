package compress

// The whole chain on hdfs:// against a real HDFS (Hadoop's MiniDFSCluster,
// run by hdfstest): preprocess from HDFS to HDFS, train on it with
// checkpoints and a resume, compress (pruning fine-tuned on Beam, whose
// workers read the shards from HDFS), evaluate; every output the same,
// byte for byte, as the same run on local paths (but for the data path
// that model files record). Without java, javac and
// mvn it skips, except under CI=true, where it fails.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

// dataKey is the model metadata that records the data a model was trained
// on: the one output that says where it ran.
const dataKey = "train.data"

func readAll(t *testing.T, p string) []byte {
	t.Helper()
	b, err := storage.ReadFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkpointFile(out string, epoch int) string {
	return storage.Join(out, "checkpoints", fmt.Sprintf("epoch-%04d.safetensors", epoch))
}

func paramsAt(t *testing.T, p string) []float32 {
	t.Helper()
	ck, err := model.DecodeCheckpoint(readAll(t, p), p)
	if err != nil {
		t.Fatal(err)
	}
	return ck.Params
}

func TestHDFSEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	local := t.TempDir()

	// The same CSV on both sides, under the same base name, so record
	// identities, splits and shards agree.
	data, _ := trained(t) // a local preprocess output; its input is beside it
	csv := readAll(t, filepath.Join(filepath.Dir(data), "blobs.csv"))
	in := storage.Join(root, "in", "blobs.csv")
	if err := storage.WriteBytes(ctx, in, csv); err != nil {
		t.Fatal(err)
	}
	prepCfg := func(in, out string) preprocess.Config {
		return preprocess.Config{Format: "csv", Input: in, Out: out, Shards: 2, CSV: formats.CSVOptions{Label: "label"}}
	}
	hprep := storage.Join(root, "prep")
	if _, err := preprocess.Run(ctx, prepCfg(storage.Join(root, "in", "*.csv"), hprep)); err != nil {
		t.Fatalf("preprocess hdfs:// → hdfs://: %v", err)
	}
	lm, err := shardio.ReadManifest(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := shardio.ReadManifest(ctx, hprep)
	if err != nil {
		t.Fatal(err)
	}
	nshards := 0
	for _, split := range []string{"train", "validation", "test"} {
		if !reflect.DeepEqual(hm.Splits[split], lm.Splits[split]) {
			t.Errorf("split %s: the hdfs:// shards %+v differ from the local ones %+v", split, hm.Splits[split], lm.Splits[split])
		}
		for _, sh := range hm.Splits[split].Shards {
			nshards++
			if !bytes.Equal(readAll(t, storage.Join(hprep, sh.Path)), readAll(t, filepath.Join(data, sh.Path))) {
				t.Errorf("shard %s differs between hdfs:// and local", sh.Path)
			}
		}
	}
	if got, _ := storage.List(ctx, storage.Join(hprep, "shards", "*.lbs")); len(got) != nshards || nshards == 0 {
		t.Errorf("HDFS holds shards %q, the manifest lists %d", got, nshards)
	}

	// Train on Beam (workers read the shards from HDFS), 3 epochs, and the
	// same locally in plain Go: the same bits.
	tc := train.DefaultConfig()
	tc.Data, tc.Out, tc.Model, tc.Hidden, tc.Epochs, tc.Accel, tc.Mode = hprep, storage.Join(root, "train"), "mlp", []int{32}, 3, "go", "local"
	rep, err := train.Run(ctx, tc, io.Discard)
	if err != nil {
		t.Fatalf("train on hdfs://: %v", err)
	}
	lc := tc
	lc.Data, lc.Out, lc.Plain = data, filepath.Join(local, "train"), true
	if _, err := train.Run(ctx, lc, io.Discard); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(paramsAt(t, checkpointFile(tc.Out, 3)), paramsAt(t, checkpointFile(lc.Out, 3))); d != 0 {
		t.Errorf("the model trained on hdfs:// differs from the local one by %g", d)
	}
	// model.safetensors: the same bits; its metadata differ only in the
	// data path it records (train.data).
	_, hp, hmeta, err := model.DecodeModel(readAll(t, rep.ModelFile), rep.ModelFile)
	if err != nil {
		t.Fatal(err)
	}
	_, lp, lmeta, err := model.DecodeModel(readAll(t, filepath.Join(lc.Out, "model.safetensors")), "local model")
	if err != nil {
		t.Fatal(err)
	}
	if hmeta[dataKey] != hprep || lmeta[dataKey] != data {
		t.Errorf("model.safetensors records the data %q (hdfs://) and %q (local), want %q and %q", hmeta[dataKey], lmeta[dataKey], hprep, data)
	}
	delete(hmeta, dataKey)
	delete(lmeta, dataKey)
	if maxAbsDiff(hp, lp) != 0 || !reflect.DeepEqual(hmeta, lmeta) {
		t.Errorf("model.safetensors differs between hdfs:// and local: parameters by %g, metadata %v vs %v", maxAbsDiff(hp, lp), hmeta, lmeta)
	}

	// A run killed after epoch 1 leaves the checkpoints of epochs 0 and 1;
	// --resume ends bit-identical to the uninterrupted run.
	part := tc
	part.Out, part.Resume = storage.Join(root, "part"), true
	for e := 0; e <= 1; e++ {
		if err := storage.WriteBytes(ctx, checkpointFile(part.Out, e), readAll(t, checkpointFile(tc.Out, e))); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	if _, err := train.Run(ctx, part, &log); err != nil {
		t.Fatalf("resume on hdfs://: %v", err)
	}
	if want := "resuming after epoch 1 from " + checkpointFile(part.Out, 1); !strings.Contains(log.String(), want) {
		t.Errorf("the resumed run did not say %q; its log:\n%s", want, log.String())
	}
	if !bytes.Equal(readAll(t, checkpointFile(part.Out, 3)), readAll(t, checkpointFile(tc.Out, 3))) {
		t.Error("the run resumed on hdfs:// ends with another checkpoint than the uninterrupted one")
	}

	// Compress: prune with one fine-tuning epoch on Beam, int8; locally in
	// plain Go. The same artifact, byte for byte.
	cc := Config{Model: tc.Out, Data: hprep, Out: storage.Join(root, "comp"), Sparsity: []float64{0.5}, PruneSteps: 1, FineTuneEpochs: 1, Quant: "int8", Accel: "go"}
	crep, err := Run(ctx, cc, io.Discard)
	if err != nil {
		t.Fatalf("compress on hdfs://: %v", err)
	}
	lcc := cc
	lcc.Model, lcc.Data, lcc.Out, lcc.Plain = lc.Out, data, filepath.Join(local, "comp"), true
	lrep, err := Run(ctx, lcc, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The artifact carries the model's train.data: with the local path put
	// in its place, it is the local artifact, byte for byte.
	art, lart := readAll(t, crep.Artifact), readAll(t, lrep.Artifact)
	if !strings.HasPrefix(crep.Artifact, cc.Out) || len(art) != crep.BytesAfter {
		t.Errorf("the artifact is %s, %d bytes; the report says %d bytes", crep.Artifact, len(art), crep.BytesAfter)
	}
	a, err := artifact.Decode(art, crep.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	if a.Meta[dataKey] != hprep {
		t.Errorf("the artifact records the data %q, want %q", a.Meta[dataKey], hprep)
	}
	a.Meta[dataKey] = data
	if same, err := artifact.Marshal(a.Tensors, a.Meta); err != nil || !bytes.Equal(same, lart) {
		t.Errorf("the artifact made on hdfs:// differs from the local one (%v)%s", err, firstDiff(same, lart))
	}
	if crep.AccuracyAfter != lrep.AccuracyAfter || crep.AccuracyBefore != lrep.AccuracyBefore {
		t.Errorf("accuracy before/after: hdfs:// %.4f/%.4f, local %.4f/%.4f", crep.AccuracyBefore, crep.AccuracyAfter, lrep.AccuracyBefore, lrep.AccuracyAfter)
	}
	if !bytes.Contains(readAll(t, storage.Join(cc.Out, "report.json")), []byte(`"bytes_after"`)) {
		t.Error("compress wrote no report.json on hdfs://")
	}

	// Evaluate the artifact on Beam from hdfs://, and locally.
	hres, err := train.EvaluateSplit(ctx, train.EvalConfig{Model: crep.Artifact, Data: hprep, Accel: "go"})
	if err != nil {
		t.Fatalf("evaluate on hdfs://: %v", err)
	}
	lres, err := train.EvaluateSplit(ctx, train.EvalConfig{Model: lrep.Artifact, Data: data, Accel: "go", Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	if hres.Examples == 0 || hres.Accuracy != lres.Accuracy || hres.Loss != lres.Loss || !reflect.DeepEqual(hres.Confusion, lres.Confusion) {
		t.Errorf("evaluate: hdfs:// %d examples, accuracy %v, loss %v; local %d, %v, %v", hres.Examples, hres.Accuracy, hres.Loss, lres.Examples, lres.Accuracy, lres.Loss)
	}

	// hdfs:// URLs never leak into local paths ("hdfs:/localhost:...").
	if _, err := os.Stat("hdfs:"); err == nil {
		wd, _ := os.Getwd()
		t.Errorf("a local directory hdfs: was created in %s", wd)
	}
}

// firstDiff says where a and b first differ, with the bytes around it.
func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf(": first at byte %d: %q vs %q", i, a[max(0, i-32):min(len(a), i+32)], b[max(0, i-32):min(len(b), i+32)])
		}
	}
	return ""
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return 1e300
	}
	d := 0.0
	for i := range a {
		d = max(d, float64(abs32(a[i]-b[i])))
	}
	return d
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
