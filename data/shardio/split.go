package shardio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// ShardReader streams the blocks of one shard listed in a manifest and, at
// the end, checks the file against the manifest: SHA-256, size and rows.
type ShardReader struct {
	info ShardInfo
	path string
	f    io.ReadCloser
	sha  hash.Hash
	n    storage.CountingReader
	r    *Reader
}

// OpenShard opens the shard info of the manifest in dir.
func OpenShard(ctx context.Context, dir string, info ShardInfo) (*ShardReader, error) {
	if err := checkShardInfo(info); err != nil {
		return nil, fmt.Errorf("shardio: %s: %w", dir, err)
	}
	p := storage.Join(dir, info.Path)
	// The file's real size, not the manifest's claim, bounds every length
	// its header declares (a manifest from elsewhere may claim terabytes).
	size, err := storage.Size(ctx, p)
	if err != nil {
		return nil, err
	}
	if size != info.Bytes {
		return nil, fmt.Errorf("shardio: %s: %d bytes, the manifest says %d", p, size, info.Bytes)
	}
	f, err := storage.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	s := &ShardReader{info: info, path: p, f: f, sha: sha256.New()}
	s.n.R = io.TeeReader(f, s.sha)
	s.r, err = NewReaderSize(&s.n, p, info.Bytes)
	if err != nil {
		f.Close()
		return nil, err
	}
	if h := s.r.Header(); h.Rows != info.Rows {
		f.Close()
		return nil, fmt.Errorf("shardio: %s: holds %d rows, the manifest says %d", p, h.Rows, info.Rows)
	}
	return s, nil
}

// Header returns the shard's header.
func (s *ShardReader) Header() Header { return s.r.Header() }

// Path returns the shard's full path.
func (s *ShardReader) Path() string { return s.path }

// Next returns the next block, or io.EOF after the last one once the file
// has been checked against the manifest.
func (s *ShardReader) Next() (*rows.Block, error) {
	b, err := s.r.Next()
	if err != io.EOF {
		return b, err
	}
	if s.n.N != s.info.Bytes {
		return nil, fmt.Errorf("shardio: %s: %d bytes, the manifest says %d", s.path, s.n.N, s.info.Bytes)
	}
	if sum := hex.EncodeToString(s.sha.Sum(nil)); sum != s.info.SHA256 {
		return nil, fmt.Errorf("shardio: %s: SHA-256 %s, the manifest says %s: the file changed after the manifest was written", s.path, sum, s.info.SHA256)
	}
	return nil, io.EOF
}

// Close closes the file.
func (s *ShardReader) Close() error { return s.f.Close() }

// SplitReader streams every block of a split, shard after shard, with one
// file open and one block decoded at a time.
type SplitReader struct {
	ctx    context.Context
	dir    string
	schema Schema
	name   string
	shards []ShardInfo
	next   int // next shard to open
	cur    *ShardReader
	rows   int64
	want   int64
}

// OpenSplit opens the split named split of the manifest m read from dir.
// Each shard's header must agree with m's schema, and each file with its
// ShardInfo (checked as it is streamed).
func OpenSplit(ctx context.Context, dir string, m *Manifest, split string) (*SplitReader, error) {
	sp, ok := m.Splits[split]
	if !ok || sp == nil {
		return nil, fmt.Errorf("shardio: %s: no split %q in the manifest (have %v)", storage.Join(dir, ManifestName), split, sortedKeys(m.Splits))
	}
	return &SplitReader{ctx: ctx, dir: dir, schema: m.Schema, name: split, shards: sp.Shards, want: sp.Rows}, nil
}

// Next returns the split's next block, or io.EOF after the last one.
func (s *SplitReader) Next() (*rows.Block, error) {
	for {
		if s.cur == nil {
			if s.next == len(s.shards) {
				if s.rows != s.want {
					return nil, fmt.Errorf("shardio: split %s: read %d rows, the manifest says %d", s.name, s.rows, s.want)
				}
				return nil, io.EOF
			}
			r, err := OpenShard(s.ctx, s.dir, s.shards[s.next])
			if err != nil {
				return nil, err
			}
			s.next++
			if h := r.Header(); h.Features != s.schema.Features || h.Sparse != s.schema.Sparse {
				r.Close()
				return nil, fmt.Errorf("shardio: %s: %d features (sparse=%v), the manifest's schema says %d (sparse=%v)",
					r.Path(), h.Features, h.Sparse, s.schema.Features, s.schema.Sparse)
			}
			s.cur = r
		}
		b, err := s.cur.Next()
		if err == io.EOF {
			err = s.cur.Close()
			s.cur = nil
			if err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		s.rows += int64(b.Rows())
		return b, nil
	}
}

// Close closes the open shard, if any.
func (s *SplitReader) Close() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}
