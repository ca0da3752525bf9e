// Package transforms holds lightbeam's reusable Beam transforms: parse,
// split, analyze, scale, shard and manifest for preprocessing (one per file,
// each with its test), and the gradient combines of training.
//
// Data moves between them as rows.Block elements (thousands of rows each)
// with a bulk binary coder, never row by row: Beam's per-element overhead
// is about a microsecond. Nothing here depends on side inputs (unreliable
// on Spark): values that every worker needs, such as the scaling
// parameters, are joined to the data by key with CoGroupByKey.
//
//	files ─Parse─▶ Block ─Split─▶ KV<split, Block> ─Analyze─▶ KV<split, Stats>
//	                                   │                          │ FitScale
//	                                   ▼ KeyByShard               ▼
//	                          KV<shard, Block> ──CoGroupByKey── KV<shard, Scale>
//	                                   │ WriteShards
//	                                   ▼
//	                         ShardResult ─WriteManifest─▶ manifest.json (last)
package transforms
