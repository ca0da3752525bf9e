package transforms

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
)

// ParseCount is what parsing one source (or one chunk of it) saw.
type ParseCount struct {
	Source     string // the source's path
	Offset     int64  // the chunk's byte offset in it
	Bytes      int64  // bytes of the chunk
	Rows       int64  // records read, rejected ones included
	Rejected   int64
	RejectFile string // relative to the output directory; "" if none
}

// ManifestConfig is what WriteManifest records beyond the data.
type ManifestConfig struct {
	Dir               string         // Required. Output directory.
	Shards            int            // Required. Shards per split.
	MaxRejectFraction float64        // Required. Fail past this share of rejected records.
	Scale             string         // Required. The scale method used.
	Missing           string         // Optional. The missing-value policy.
	Source            shardio.Source // Required.
	Schema            shardio.Schema // Required. Classes is filled in from the data if 0.
	CreatedBy         string         // Required. "lightbeam <version>".
}

// WriteManifest writes manifest.json into cfg.Dir once every shard is
// written, from PCollection<ShardResult>, PCollection<KV<int, rows.Stats>>
// keyed by split, and PCollection<ParseCount>. It fails the job instead,
// writing no manifest, when more than cfg.MaxRejectFraction of the records
// read were rejected: an output without a manifest is incomplete.
func WriteManifest(s beam.Scope, shards, statsBySplit, counts beam.PCollection, cfg ManifestConfig) {
	s = s.Scope("transforms.WriteManifest")
	joined := beam.CoGroupByKey(s,
		beam.AddFixedKey(s, shards),
		beam.AddFixedKey(s, beam.ParDo(s, &statsEntryFn{}, statsBySplit)),
		beam.AddFixedKey(s, counts))
	beam.ParDo0(s, &writeManifestFn{Cfg: cfg}, joined)
}

// statsEntry is a split's statistics as one value, for AddFixedKey.
type statsEntry struct {
	Split int
	Stats rows.Stats
}

type statsEntryFn struct{}

func (*statsEntryFn) ProcessElement(split int, st rows.Stats) statsEntry {
	return statsEntry{Split: split, Stats: st}
}

type writeManifestFn struct{ Cfg ManifestConfig }

func (fn *writeManifestFn) ProcessElement(ctx context.Context, _ int, shards func(*ShardResult) bool, stats func(*statsEntry) bool, counts func(*ParseCount) bool) error {
	cfg := fn.Cfg
	m := &shardio.Manifest{
		Format: shardio.ManifestFormat, Version: shardio.ManifestVersion, CreatedBy: cfg.CreatedBy,
		Source: cfg.Source, Schema: cfg.Schema,
		Stats:  map[string]*rows.Stats{},
		Splits: map[string]*shardio.Split{},
	}
	var c ParseCount
	for counts(&c) {
		m.RowsRead += c.Rows
		m.RowsRejected += c.Rejected
		m.Source.BytesIn += c.Bytes
		if c.RejectFile != "" {
			m.Rejects = append(m.Rejects, c.RejectFile)
		}
	}
	sort.Strings(m.Rejects)
	if m.RowsRead > 0 && float64(m.RowsRejected) > cfg.MaxRejectFraction*float64(m.RowsRead) {
		return fmt.Errorf("transforms.WriteManifest: %d of %d records (%.2f%%) were rejected, more than --max-reject-fraction=%g allows; see %s/rejects/ for each file, record and reason; no manifest was written",
			m.RowsRejected, m.RowsRead, 100*float64(m.RowsRejected)/float64(m.RowsRead), cfg.MaxRejectFraction, cfg.Dir)
	}
	var e statsEntry
	classes := 0
	for stats(&e) {
		st := e.Stats
		m.Stats[SplitNames[e.Split]] = &st
		classes = max(classes, len(st.Labels))
		if e.Split == Train {
			sc, err := FitScale(cfg.Scale, &st, cfg.Schema.Sparse)
			if err != nil {
				return err
			}
			m.Scale = shardio.Scale{Method: sc.Method, Offset: widen(sc.Offset), Factor: widen(sc.Factor), FitOn: "train", Missing: cfg.Missing}
		}
	}
	if m.Schema.Task == "classification" && m.Schema.Classes == 0 {
		m.Schema.Classes = classes
	}
	var r ShardResult
	for shards(&r) {
		sp := m.Splits[r.Split]
		if sp == nil {
			sp = &shardio.Split{}
			m.Splits[r.Split] = sp
		}
		sp.Rows += r.Info.Rows
		sp.Shards = append(sp.Shards, r.Info)
	}
	for _, sp := range m.Splits {
		sort.Slice(sp.Shards, func(i, j int) bool { return sp.Shards[i].Path < sp.Shards[j].Path })
	}
	return shardio.WriteManifest(ctx, cfg.Dir, m)
}

func encodeStatsEntry(e statsEntry) []byte {
	return encodeStatsPart(statsPart{Key: uint64(e.Split), Stats: e.Stats})
}

func decodeStatsEntry(b []byte) (statsEntry, error) {
	p, err := decodeStatsPart(b)
	return statsEntry{Split: int(p.Key), Stats: p.Stats}, err
}

func widen(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func init() {
	beam.RegisterCoder(reflect.TypeOf(statsEntry{}), encodeStatsEntry, decodeStatsEntry)
	register.DoFn2x1[int, rows.Stats, statsEntry](&statsEntryFn{})
	register.DoFn5x1[context.Context, int, func(*ShardResult) bool, func(*statsEntry) bool, func(*ParseCount) bool, error](&writeManifestFn{})
	register.Iter1[ShardResult]()
	register.Iter1[statsEntry]()
	register.Iter1[ParseCount]()
}
