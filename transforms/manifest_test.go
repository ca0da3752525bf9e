package transforms

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/data/formats"
	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
)

// manifestPipeline runs WriteManifest on made-up shard results, the
// statistics of 300 train and 100 validation rows, and counts.
func manifestPipeline(dir string, counts []ParseCount, maxReject float64) (trainStats *rows.Stats, err error) {
	rng := rand.New(rand.NewPCG(11, 12))
	train := []rows.Block{*randomBlock(rng, "m", 0, 200, 3), *randomBlock(rng, "m", 200, 100, 3)}
	val := []rows.Block{*randomBlock(rng, "m", 300, 100, 3)}
	trainStats = rows.NewStats(3)
	for i := range train {
		trainStats.AddBlock(&train[i], true)
	}
	sha := strings.Repeat("ab", 32)
	shards := []ShardResult{
		{Split: "train", Index: 1, Info: shardio.ShardInfo{Path: "shards/train-00001-of-00002.lbs", Rows: 120, Bytes: 900, SHA256: sha}},
		{Split: "train", Index: 0, Info: shardio.ShardInfo{Path: "shards/train-00000-of-00002.lbs", Rows: 180, Bytes: 1000, SHA256: sha}},
		{Split: "validation", Index: 0, Info: shardio.ShardInfo{Path: "shards/validation-00000-of-00002.lbs", Rows: 100, Bytes: 800, SHA256: sha}},
		{Split: "validation", Index: 1, Info: shardio.ShardInfo{Path: "shards/validation-00001-of-00002.lbs", Rows: 0, Bytes: 64, SHA256: sha}},
	}
	p, s := beam.NewPipelineWithRoot()
	bySplit := beam.Flatten(s,
		beam.ParDo(s, asTrain, beam.CreateList(s, train)),
		beam.ParDo(s, asValidation, beam.CreateList(s, val)))
	WriteManifest(s, beam.CreateList(s, shards), Analyze(s, bySplit, true), beam.CreateList(s, counts), ManifestConfig{
		Dir: dir, Shards: 2, MaxRejectFraction: maxReject, Scale: "standard", Missing: formats.MissingReject,
		Source:    shardio.Source{Format: "csv", Inputs: []string{"a.csv", "b.csv"}},
		Schema:    shardio.Schema{Features: 3, Task: formats.Classification, Label: "label"},
		CreatedBy: "lightbeam test",
	})
	return trainStats, ptest.Run(p)
}

func TestWriteManifest(t *testing.T) {
	dir := t.TempDir()
	counts := []ParseCount{
		{Source: "b.csv", Offset: 0, Bytes: 500, Rows: 210, Rejected: 2, RejectFile: "rejects/b.csv-0.jsonl"},
		{Source: "a.csv", Offset: 100, Bytes: 300, Rows: 191, Rejected: 1, RejectFile: "rejects/a.csv-100.jsonl"},
		{Source: "a.csv", Offset: 0, Bytes: 100, Rows: 0},
	}
	trainStats, err := manifestPipeline(dir, counts, 0.01) // 3 of 401 rejected: under 1%
	if err != nil {
		t.Fatal(err)
	}
	m, err := shardio.ReadManifest(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.RowsRead != 401 || m.RowsRejected != 3 || m.Source.BytesIn != 900 {
		t.Errorf("rows read %d, rejected %d, bytes in %d; want 401, 3, 900", m.RowsRead, m.RowsRejected, m.Source.BytesIn)
	}
	if want := []string{"rejects/a.csv-100.jsonl", "rejects/b.csv-0.jsonl"}; !reflect.DeepEqual(m.Rejects, want) {
		t.Errorf("rejects %v, want %v", m.Rejects, want)
	}
	if m.Splits["train"].Rows != 300 || m.Splits["validation"].Rows != 100 || m.Splits["test"] != nil {
		t.Errorf("splits: train %+v, validation %+v, test %+v", m.Splits["train"], m.Splits["validation"], m.Splits["test"])
	}
	if p := m.Splits["train"].Shards[0].Path; p != "shards/train-00000-of-00002.lbs" {
		t.Errorf("train shards not in path order: first is %s", p)
	}
	if m.Schema.Classes != 3 {
		t.Errorf("classes %d, want 3 (from the labels seen)", m.Schema.Classes)
	}
	if m.Stats["train"].Rows != 300 || m.Stats["validation"].Rows != 100 {
		t.Errorf("stats rows: train %d, validation %d", m.Stats["train"].Rows, m.Stats["validation"].Rows)
	}
	// The recorded scale is the one fitted on the train split alone.
	sc, err := FitScale("standard", trainStats, false)
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 3; j++ {
		if float32(m.Scale.Offset[j]) != sc.Offset[j] || float32(m.Scale.Factor[j]) != sc.Factor[j] {
			t.Errorf("scale feature %d: offset %g factor %g, want %g %g", j, m.Scale.Offset[j], m.Scale.Factor[j], sc.Offset[j], sc.Factor[j])
		}
	}
	if m.Scale.FitOn != "train" || m.Scale.Missing != formats.MissingReject || m.CreatedBy != "lightbeam test" {
		t.Errorf("scale %+v, created by %q", m.Scale, m.CreatedBy)
	}
}

// Past the reject limit the job fails, saying so, and writes no manifest.
func TestWriteManifestTooManyRejects(t *testing.T) {
	dir := t.TempDir()
	counts := []ParseCount{
		{Source: "a.csv", Bytes: 300, Rows: 100, Rejected: 2, RejectFile: "rejects/a.csv-0.jsonl"},
	}
	_, err := manifestPipeline(dir, counts, 0.01)
	if err == nil || !strings.Contains(err.Error(), "2 of 100 records") || !strings.Contains(err.Error(), "max-reject-fraction=0.01") {
		t.Fatalf("err = %v, want one naming 2 of 100 records and the limit", err)
	}
	if _, err := os.Stat(filepath.Join(dir, shardio.ManifestName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a manifest was written (stat: %v)", err)
	}
	// Exactly at the limit is allowed.
	if _, err := manifestPipeline(dir, []ParseCount{{Source: "a.csv", Rows: 100, Rejected: 1}}, 0.01); err != nil {
		t.Errorf("1 of 100 rejected with limit 0.01: %v", err)
	}
}
