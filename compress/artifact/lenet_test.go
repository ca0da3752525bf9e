package artifact

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/prune"
)

// lenetSizes builds a synthetic 784-300-100-10 MLP (Gaussian weights with
// He scaling, small biases), prunes each weight matrix by magnitude to the
// given densities, stores the weights with enc and the biases with biasEnc, and
// returns the decoded artifact.
func lenetArtifact(t *testing.T, density [3]float64, enc, biasEnc Encoding) *Artifact {
	rng := rand.New(rand.NewPCG(300, 100))
	sizes := []int{784, 300, 100, 10}
	var ts []Tensor
	for l := 1; l < len(sizes); l++ {
		out, in := sizes[l], sizes[l-1]
		w := make([]float32, out*in)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * math.Sqrt(2/float64(in)))
		}
		m, err := prune.Magnitude(w, 1-density[l-1])
		if err != nil {
			t.Fatal(err)
		}
		wt, err := Quantize(fmt.Sprintf("fc%d.weight", l), []int{out, in}, w, m, enc)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]float32, out)
		for i := range b {
			b[i] = float32(rng.NormFloat64() * 0.05)
		}
		bt, err := Quantize(fmt.Sprintf("fc%d.bias", l), []int{out}, b, prune.Mask(nil), biasEnc)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, wt, bt)
	}
	file, err := Marshal(ts, map[string]string{"arch": "mlp", "sizes": "784,300,100,10"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Decode(file, "lenet")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestLeNetSize logs the artifact size of LeNet-300-100 at Deep
// Compression's densities (8%, 9%, 26%: 27 KB in their paper with 6-bit
// fc codes) and at about 5% overall, the target being < 16,000 bytes. The
// masks are random-like (magnitude pruning of i.i.d. weights), the worst
// case for the index stream; see compress/entropy/MEASURED.md.
func TestLeNetSize(t *testing.T) {
	dc := [3]float64{0.08, 0.09, 0.26}
	five := [3]float64{0.05, 0.05, 0.20}
	tests := []struct {
		name    string
		density [3]float64
		enc     Encoding
		bias    Encoding
		under   int // bytes the artifact must stay under
	}{
		{"DC density, 6-bit k-means, 5-bit index", dc, Encoding{Kind: KMeans, Bits: 6, Sparse: true, IndexBits: 5}, Encoding{}, 27000},
		{"DC density, 5-bit k-means, 5-bit index", dc, Encoding{Kind: KMeans, Bits: 5, Sparse: true, IndexBits: 5}, Encoding{}, 27000},
		{"DC density, 5-bit k-means, auto index", dc, Encoding{Kind: KMeans, Bits: 5, Sparse: true}, Encoding{}, 27000},
		{"5% density, 5-bit k-means, auto index", five, Encoding{Kind: KMeans, Bits: 5, Sparse: true}, Encoding{}, 17000},
		{"5% density, 5-bit k-means, f16 codebook", five, Encoding{Kind: KMeans, Bits: 5, Sparse: true, HalfSide: true}, Encoding{}, 17000},
		{"5% density, 4-bit k-means, f16 codebook", five, Encoding{Kind: KMeans, Bits: 4, Sparse: true, HalfSide: true}, Encoding{}, 16000},
		{"5% density, 5-bit k-means, f16 codebook, int8 biases", five, Encoding{Kind: KMeans, Bits: 5, Sparse: true, HalfSide: true}, Encoding{Kind: Int8Tensor}, 17000},
		{"5% density, int8 per-channel sparse, f16 scales", five, Encoding{Kind: Int8, Sparse: true, HalfSide: true}, Encoding{}, 24000},
	}
	for _, tt := range tests {
		if tt.bias.Kind == "" {
			tt.bias = Encoding{Kind: F16}
		}
		a := lenetArtifact(t, tt.density, tt.enc, tt.bias)
		kept := 0
		for i := 0; i < len(a.Tensors); i += 2 {
			kept += a.Tensors[i].Stored()
		}
		t.Logf("%s: %d bytes, %d kept weights (%.2f%%), %.2f bits per kept weight",
			tt.name, a.Size, kept, 100*float64(kept)/266200, 8*float64(a.Size)/float64(kept))
		if tt.name == "5% density, 4-bit k-means, f16 codebook" || tt.name == "DC density, 5-bit k-means, 5-bit index" {
			t.Log("\n" + a.Table())
		}
		if a.Size >= tt.under {
			t.Errorf("%s: %d bytes, want under %d", tt.name, a.Size, tt.under)
		}
	}
}
