package transforms

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// The splits, in the order their indices give.
const (
	Train = iota
	Validation
	Test
	NumSplits
)

// SplitNames are the names of the splits by index.
var SplitNames = [NumSplits]string{"train", "validation", "test"}

// SplitIndex returns the index of the split called name, or -1.
func SplitIndex(name string) int {
	for i, n := range SplitNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Fractions are the shares of rows that go to each split; they sum to 1.
type Fractions [NumSplits]float64

// ParseFractions reads "train:0.8,validation:0.1,test:0.1". Splits not
// named get 0; the shares must be non-negative and sum to 1 (±1e-9).
func ParseFractions(spec string) (Fractions, error) {
	var f Fractions
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), ":")
		i := SplitIndex(name)
		if !ok || i < 0 {
			return f, fmt.Errorf("split %q: want name:fraction with name one of train, validation, test", part)
		}
		if seen[name] {
			return f, fmt.Errorf("split %q named twice", name)
		}
		seen[name] = true
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || v < 0 || v > 1 || math.IsNaN(v) {
			return f, fmt.Errorf("split %q: fraction %q is not a number in [0,1]", name, val)
		}
		f[i] = v
	}
	if sum := f[0] + f[1] + f[2]; math.Abs(sum-1) > 1e-9 {
		return f, fmt.Errorf("split fractions sum to %g, not 1", sum)
	}
	return f, nil
}

// Of returns the split of the row with record identity id. It uses the top
// 53 bits of id; shards use the low bits, so the two choices are independent.
func (f Fractions) Of(id uint64) int {
	u := float64(id>>11) / (1 << 53)
	if u < f[Train] {
		return Train
	}
	if u < f[Train]+f[Validation] || f[Test] == 0 {
		return Validation
	}
	return Test
}

// SplitBlocks assigns every row of a PCollection<KV<int, rows.Block>> to
// a split and returns PCollection<KV<int, rows.Block>> keyed by split
// index, one block per split present in each input block. The input key is
// the source's fixed split (MNIST's t10k files are always the test split),
// or -1 for a split by a hash of each row's identity, with shares f.
func SplitBlocks(s beam.Scope, blocks beam.PCollection, f Fractions) beam.PCollection {
	s = s.Scope("transforms.SplitBlocks")
	return beam.ParDo(s, &splitFn{Fractions: f}, blocks)
}

type splitFn struct {
	Fractions Fractions
}

func (fn *splitFn) ProcessElement(fixed int, b rows.Block, emit func(int, rows.Block)) error {
	if fixed >= 0 {
		if fixed >= NumSplits {
			return fmt.Errorf("transforms.SplitBlocks: split index %d out of range", fixed)
		}
		emit(fixed, b)
		return nil
	}
	parts := splitBlock(&b, fn.Fractions.Of)
	for i, p := range parts {
		if p != nil {
			emit(i, *p)
		}
	}
	return nil
}

// splitBlock divides b by which(id) into NumSplits blocks (nil where empty).
func splitBlock(b *rows.Block, which func(uint64) int) []*rows.Block {
	parts := make([]*rows.Block, NumSplits)
	for i, id := range b.IDs {
		k := which(id)
		if parts[k] == nil {
			parts[k] = b.Empty(b.Rows())
		}
		parts[k].AppendRow(b, i)
	}
	return parts
}

// ShardOf returns the shard (of n) of the row with identity id.
func ShardOf(id uint64, n int) int { return int((id & 0xffffffff) % uint64(n)) }

// ShardKey numbers (split, shard) pairs: split*n + shard.
func ShardKey(split, shard, n int) int { return split*n + shard }

func init() {
	register.DoFn3x1[int, rows.Block, func(int, rows.Block), error](&splitFn{})
	register.Emitter2[int, rows.Block]()
}
