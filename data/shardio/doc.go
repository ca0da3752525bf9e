// Package shardio reads and writes lightbeam's preprocessed data: shard
// files of row blocks and the manifest that lists them.
//
// Preprocess writes, under its output directory,
//
//	manifest.json                         schema, scaling, stats, shard list (written last)
//	shards/<split>-00000-of-00008.lbs     blocks of rows, zstd-compressed, CRC-checked
//
// A shard file (WriteShard, or Writer for rows that arrive as a stream;
// Reader) is a header, fixed-size blocks of rows (BlockRows each, the last
// one shorter) and a trailer holding a CRC-32C of every byte before it. The bytes depend only on the rows and the header, not
// on how the rows were chunked when they were written, so a shard's SHA-256
// identifies its content. The byte layout is specified in docs/FORMATS.md.
//
// The manifest (WriteManifest, ReadManifest) records each shard's path,
// rows, size and SHA-256; OpenSplit and OpenShard stream a split's rows back
// one block at a time and check every shard against the manifest as they
// go. Because the manifest is written last and atomically, a directory
// without one is an unfinished preprocess run.
//
// Runs is the external merge sort behind a shard whose rows do not fit in
// memory: rows are spilled as sorted runs (temporary shard files under
// RunDir), merged FanIn at a time into larger runs when there are more,
// and streamed in order into the shard file, a block at a time. The rows'
// order (record identity, then content) makes the shard's bytes depend on
// its rows alone. transforms.SpillRuns and WriteShards run it on Beam.
package shardio
