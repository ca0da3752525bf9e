// Package transforms holds lightbeam's Beam transforms, and nothing else:
// each is a func(s beam.Scope, ...) beam.PCollection with its DoFns and
// CombineFns, documented with the PCollection types it takes and returns.
// The plain-Go data they move lives in data/ (rows, formats, shardio) and
// storage; docs/ARCHITECTURE.md draws the whole flow.
//
// Data moves between them as rows.Block elements (thousands of rows each)
// with a bulk binary coder, never row by row: Beam's per-element overhead
// is about a microsecond. Nothing here depends on side inputs (unreliable
// on Spark): values that every worker needs, such as the scaling
// parameters, are joined to the data by key with CoGroupByKey.
//
// Preprocessing:
//
//	ParseTask ─Parse─▶ KV<int, Block> ─SplitBlocks─▶ KV<split, Block> ─Analyze─▶ KV<split, Stats>
//	                                        │                                   │ FitScaleTo
//	                                        ▼ SpillRuns                         ▼
//	                         KV<shard, shardio.Run> ──CoGroupByKey──── KV<shard, Scale>
//	                                        │ WriteShards
//	                                        ▼
//	                                   ShardResult ─WriteManifest─▶ manifest.json (last)
//
// Training: SumPartialsPerKey adds KV<model, Partial> in shard order (the
// evaluation of every model of a round); the round's own Combine, which
// also applies the optimizer step, is in pipelines/train. Both keep their
// inputs in an Ordered accumulator so that every runner gives the same bits.
package transforms
