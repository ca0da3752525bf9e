package entropy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/fse"
	"github.com/klauspost/compress/huff0"
	"github.com/klauspost/compress/zstd"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/compress/quant"
)

// realisticStreams returns the streams the artifact entropy-codes for a
// pruned fc1 (300×784): k-means codes of the kept weights and relative
// index gaps, at Deep Compression's 8% density and at 5%.
func realisticStreams() []struct {
	name  string
	sym   []uint8
	width int
} {
	type stream = struct {
		name  string
		sym   []uint8
		width int
	}
	var out []stream
	for _, dist := range []string{"laplace", "gauss"} {
		rng := rand.New(rand.NewPCG(11, 12))
		w := make([]float32, 300*784)
		for i := range w {
			if dist == "laplace" {
				w[i] = float32(rng.ExpFloat64() * 0.03 * float64(1-2*rng.IntN(2)))
			} else {
				w[i] = float32(rng.NormFloat64() * 0.04)
			}
		}
		for _, density := range []float64{0.08, 0.05} {
			m, err := prune.Magnitude(w, 1-density)
			if err != nil {
				panic(err)
			}
			var kept []float32
			var pos []int32
			for i, k := range m {
				if k {
					kept = append(kept, w[i])
					pos = append(pos, int32(i))
				}
			}
			for _, bits := range []int{5, 4} {
				_, codes := quant.KMeans(kept, 1<<bits, 30)
				out = append(out, stream{fmt.Sprintf("%s %.0f%% %d-bit k-means codes", dist, 100*density, bits), codes, bits})
			}
			if dist == "laplace" {
				for _, iw := range []int{4, 5, 8} {
					out = append(out, stream{fmt.Sprintf("%.0f%% index gaps, %d-bit fields", 100*density, iw), EncodeGaps(pos, iw), iw})
				}
			}
		}
	}
	return out
}

func entropyBytes(sym []uint8) float64 {
	var f [256]float64
	for _, s := range sym {
		f[s]++
	}
	h := 0.0
	for _, c := range f {
		if c > 0 {
			h -= c * math.Log2(c/float64(len(sym)))
		}
	}
	return h / 8
}

func sizeOf(b []byte, err error) string {
	if errors.Is(err, huff0.ErrIncompressible) || errors.Is(err, fse.ErrIncompressible) {
		return "incompr."
	}
	if err != nil {
		return "err"
	}
	return fmt.Sprint(len(b))
}

// TestMeasureCodecs logs, for realistic symbol streams, the size of each
// candidate codec (the table in MEASURED.md comes from this test: go test
// -run TestMeasureCodecs -v ./compress/entropy) and checks that our
// Huffman beats raw bit-packing and is within 3% of the order-0 entropy
// plus its table.
func TestMeasureCodecs(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "| stream | symbols | entropy bound | raw bits | ours (huffman) | stream (best) | huff0 1X | huff0 4X | fse | zstd best |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range realisticStreams() {
		raw := (len(s.sym)*s.width + 7) / 8
		ours := Encode(s.sym)
		best := EncodeStream(s.sym, s.width)
		h1, _, err1 := huff0.Compress1X(s.sym, nil)
		h4, _, err4 := huff0.Compress4X(s.sym, nil)
		fs, errf := fse.Compress(s.sym, nil)
		zs := enc.EncodeAll(s.sym, nil)
		bound := entropyBytes(s.sym)
		fmt.Fprintf(&tab, "| %s | %d | %.0f | %d | %d | %d (%s) | %s | %s | %s | %d |\n", s.name, len(s.sym), bound, raw,
			len(ours), len(best), Codec(best[0]), sizeOf(h1, err1), sizeOf(h4, err4), sizeOf(fs, errf), len(zs))
		if len(ours) >= raw {
			t.Errorf("%s: huffman %d bytes ≥ raw %d", s.name, len(ours), raw)
		}
		if float64(len(ours)) > bound*1.03+float64(1+(int(1)<<s.width+1)/2) {
			t.Errorf("%s: huffman %d bytes, entropy bound %.0f", s.name, len(ours), bound)
		}
		if len(best) > len(ours)+1 || len(best) > raw+1 {
			t.Errorf("%s: EncodeStream %d bytes, not the smallest", s.name, len(best))
		}
	}
	t.Log("\n" + tab.String())
}
