package transforms

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/internal/wire"
)

// Blocks and statistics are large numeric arrays: they get bulk
// little-endian coders. Beam's default coders would encode them value by
// value, tens of times slower (docs/ARCHITECTURE.md).
func init() {
	beam.RegisterCoder(reflect.TypeOf(rows.Block{}), encodeBlock, decodeBlock)
	beam.RegisterCoder(reflect.TypeOf(rows.Stats{}), encodeStats, decodeStats)
}

func encodeBlock(b rows.Block) []byte {
	e := &wire.Encoder{B: make([]byte, 0, 64+4*len(b.Labels)+8*len(b.IDs)+4*len(b.DenseValues)+4*len(b.Indptr)+8*len(b.Values))}
	flags := uint64(0)
	if b.Sparse {
		flags = 1
	}
	e.U64(uint64(b.Features))
	e.U64(flags)
	wire.AppendSlice(e, b.Labels)
	wire.AppendSlice(e, b.IDs)
	wire.AppendSlice(e, b.DenseValues)
	wire.AppendSlice(e, b.Indptr)
	wire.AppendSlice(e, b.Indices)
	wire.AppendSlice(e, b.Values)
	return e.B
}

func decodeBlock(data []byte) (rows.Block, error) {
	d := &wire.Decoder{B: data}
	b := rows.Block{Features: int(d.U64())}
	b.Sparse = d.U64() == 1
	b.Labels = wire.ReadSlice[float32](d)
	b.IDs = wire.ReadSlice[uint64](d)
	b.DenseValues = wire.ReadSlice[float32](d)
	b.Indptr = wire.ReadSlice[int32](d)
	b.Indices = wire.ReadSlice[int32](d)
	b.Values = wire.ReadSlice[float32](d)
	if d.Err != nil {
		return b, d.Err
	}
	if b.Sparse && b.Indptr == nil {
		b.Indptr = []int32{0}
	}
	return b, b.Validate()
}

func encodeStats(s rows.Stats) []byte {
	e := &wire.Encoder{}
	e.U64(uint64(s.Rows))
	wire.AppendSlice(e, s.Count)
	wire.AppendSlice(e, s.Mean)
	wire.AppendSlice(e, s.M2)
	wire.AppendSlice(e, s.Min)
	wire.AppendSlice(e, s.Max)
	wire.AppendSlice(e, s.Labels)
	return e.B
}

func decodeStats(data []byte) (rows.Stats, error) {
	d := &wire.Decoder{B: data}
	s := rows.Stats{Rows: int64(d.U64())}
	s.Count = wire.ReadSlice[int64](d)
	s.Mean = wire.ReadSlice[float64](d)
	s.M2 = wire.ReadSlice[float64](d)
	s.Min = wire.ReadSlice[float64](d)
	s.Max = wire.ReadSlice[float64](d)
	s.Labels = wire.ReadSlice[int64](d)
	return s, d.Finish("stats")
}
