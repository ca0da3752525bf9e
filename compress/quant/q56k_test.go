package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// kRoundTrip quantizes and dequantizes x (rows of rowLen) with k.
func kRoundTrip(t *testing.T, k kQuant, x []float32, rowLen int) ([]byte, []float32) {
	t.Helper()
	data, err := k.quant(x, rowLen)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != len(x)/SuperBlockSize*k.blockBytes {
		t.Fatalf("%s: %d bytes for %d values", k.name, len(data), len(x))
	}
	y := make([]float32, len(x))
	if err := k.dequant(y, data); err != nil {
		t.Fatal(err)
	}
	return data, y
}

func kQuantNamed(name string) kQuant {
	for _, k := range kQuants {
		if k.name == name {
			return k
		}
	}
	panic(name)
}

// TestQ5_KExact: values s·q with q ∈ 0..31 and s a power of 2, every
// sub-block holding 0 and 31·s, fit exactly (scale s, min 0), so the
// super-block stores sc_j = 63, d = fp16(s/63), dmin = 0 and the codes q,
// laid out as block_q5_K: low nibbles of sub-blocks 2p and 2p+1 in byte l
// of the p-th 32 bytes, fifth bits at bits 2p and 2p+1 of qh byte l.
func TestQ5_KExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const s = 0.125
	q := make([]uint8, SuperBlockSize)
	x := make([]float32, SuperBlockSize)
	for i := range q {
		switch i % BlockSize {
		case 0:
			q[i] = 0
		case 1:
			q[i] = 31
		default:
			q[i] = uint8(rng.IntN(32))
		}
		x[i] = s * float32(q[i])
	}
	got, y := kRoundTrip(t, kQuantNamed("q5_k"), x, SuperBlockSize)
	d := half.F32ToF16(s / 63)
	if got[0] != byte(d) || got[1] != byte(d>>8) || got[2] != 0 || got[3] != 0 {
		t.Errorf("d, dmin = % x, want fp16(%g) = %#04x and 0", got[:4], s/63.0, d)
	}
	for j := range q4kSub {
		if sc, m := scaleMinK4(j, got[q4kScales:]); sc != 63 || m != 0 {
			t.Errorf("sub-block %d: sc, m = %d, %d; want 63, 0", j, sc, m)
		}
	}
	for i, want := range q {
		j, l := i/BlockSize, i%BlockSize
		lo := got[q5kQs+j/2*BlockSize+l] >> (4 * (j % 2)) & 15
		hi := got[q5kQh+l] >> j & 1
		if lo|hi<<4 != want {
			t.Fatalf("code %d = %d, want %d", i, lo|hi<<4, want)
		}
	}
	step := float64(half.F16ToF32(d))*63 - s // d's fp16 rounding, per code step
	for i := range x {
		if e := math.Abs(float64(y[i] - x[i])); e > 31*math.Abs(step)+1e-7 {
			t.Errorf("x[%d] = %g dequantized to %g", i, x[i], y[i])
		}
	}
}

// TestQ6_KExact: values k·(q − 32) with k a power of 2, q ∈ 16..48 and
// one q = 0 per sub-block of 16, fit exactly (scale −k), so d =
// fp16(−k/128) is exact, every sc_j = −128, the codes are q, laid out as
// block_q6_K, and the values come back exactly.
func TestQ6_KExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const k = 1.0 / 64
	q := make([]uint8, SuperBlockSize)
	x := make([]float32, SuperBlockSize)
	for i := range q {
		q[i] = uint8(16 + rng.IntN(33))
		if i%16 == 5 {
			q[i] = 0
		}
		x[i] = k * float32(int(q[i])-32)
	}
	got, y := kRoundTrip(t, kQuantNamed("q6_k"), x, SuperBlockSize)
	if d := half.F16ToF32(uint16(got[q6kD]) | uint16(got[q6kD+1])<<8); d != -k/128 {
		t.Errorf("d = %g, want %g", d, -k/128.0)
	}
	if sc := got[q6kScales:q6kD]; !slices.Equal(sc, slices.Repeat([]byte{0x80}, q6kSub)) {
		t.Errorf("scales % x, want all −128", sc)
	}
	for i, want := range q {
		h, r := i/128, i%128
		l, quarter := r%32, r/32
		nib := got[64*h+32*(quarter%2)+l] >> (4 * (quarter / 2)) & 15
		top := got[q6kQh+32*h+l] >> (2 * quarter) & 3
		if nib|top<<4 != want {
			t.Fatalf("code %d = %d, want %d", i, nib|top<<4, want)
		}
	}
	if !slices.Equal(y, x) {
		t.Errorf("not exact:\n got %v\nwant %v", y[:16], x[:16])
	}
}

func TestKQuantZeros(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, k := range kQuants {
		for _, z := range [][]float32{superBlock(), superBlock(negZero, 0, negZero), superBlock(1e-16, -1e-17)} {
			if k.name != "q6_k" && z[0] == 1e-16 {
				continue // below GROUP_MAX_EPS only counts as zero for Q6_K
			}
			got, y := kRoundTrip(t, k, z, SuperBlockSize)
			if !slices.Equal(got, make([]byte, k.blockBytes)) {
				t.Errorf("%s of zeros %v…: % x", k.name, z[:3], got)
			}
			for i, v := range y {
				if v != 0 { // Q6_K's zero bytes decode to 0·(0 − 32) = −0
					t.Fatalf("%s of zeros: y[%d] = %g", k.name, i, v)
				}
			}
		}
	}
}

// TestKQuantRoundTripBound bounds each value's error and the RMS error of
// Q5_K and Q6_K on the kinds of data TestQ4_KRoundTripBound uses. Q5_K:
// within R/31 + M/63 per super-block (R the widest sub-block range, M the
// largest −min; measured up to about 0.6 of it), RMS below R/31/√12. Q6_K:
// within A/32 (A the largest |x| of the 16-value sub-block: one step,
// since the value of the other sign than the largest clamps at 31 steps)
// plus the 6-bit rounding of the sub-block scale, ≤ D/2 with D = d·128/64;
// RMS below D/√12 with D = 128·|d| as stored (the largest sub-block's
// step), or 1.25·D/√12 where d is an fp16 subnormal (×0.001): there d is
// off by up to 10% while the 8-bit scales were set for the exact d, so
// the grid no longer spans the sub-block and its ends clamp.
func TestKQuantRoundTripBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 32 * SuperBlockSize
	for kind, name := range []string{"gauss", "laplace", "gauss+3σ", "sub-block scales ×4"} {
		for _, scale := range []float64{1e-3, 0.02, 1, 300} {
			x := make([]float32, n)
			for i := range x {
				g := rng.NormFloat64() * scale
				switch kind {
				case 1:
					g = rng.ExpFloat64() * scale * float64(1-2*rng.IntN(2))
				case 2:
					g += 3 * scale
				case 3:
					g *= math.Pow(4, float64(i%SuperBlockSize/BlockSize-4))
				}
				x[i] = float32(g)
			}
			_, y5 := kRoundTrip(t, kQuantNamed("q5_k"), x, 4*SuperBlockSize)
			q6, y6 := kRoundTrip(t, kQuantNamed("q6_k"), x, 4*SuperBlockSize)
			var worst5, worst6 float64
			for b := 0; b < n; b += SuperBlockSize {
				var r, m, amax float64
				for j := b; j < b+SuperBlockSize; j += BlockSize {
					lo, hi := 0.0, math.Inf(-1)
					for _, v := range x[j : j+BlockSize] {
						lo, hi = min(lo, float64(v)), max(hi, float64(v))
					}
					r, m = max(r, hi-lo), max(m, -lo)
				}
				bound5 := r/31 + m/63
				var se5, se6 float64
				for j := b; j < b+SuperBlockSize; j += 16 {
					a := float64(maxAbs(x[j : j+16]))
					amax = max(amax, a)
				}
				bound6 := func(i int) float64 {
					j := b + (i-b)/16*16
					return float64(maxAbs(x[j:j+16]))/32 + amax/32/2 + amax*1e-3
				}
				for i := b; i < b+SuperBlockSize; i++ {
					e5, e6 := math.Abs(float64(x[i]-y5[i])), math.Abs(float64(x[i]-y6[i]))
					if e5 > bound5 {
						t.Errorf("Q5_K %s ×%g: x[%d] = %g dequantized to %g, bound %g", name, scale, i, x[i], y5[i], bound5)
					}
					if e6 > bound6(i) {
						t.Errorf("Q6_K %s ×%g: x[%d] = %g dequantized to %g, bound %g", name, scale, i, x[i], y6[i], bound6(i))
					}
					worst5, worst6 = max(worst5, e5/bound5), max(worst6, e6/bound6(i))
					se5, se6 = se5+e5*e5, se6+e6*e6
				}
				if rms := math.Sqrt(se5/SuperBlockSize) / (r / 31); rms > 1/math.Sqrt(12) {
					t.Errorf("Q5_K %s ×%g: super-block %d RMS error %.3f steps", name, scale, b/SuperBlockSize, rms)
				}
				o := q6[b/SuperBlockSize*Q6_KBlockBytes+q6kD:]
				d := math.Abs(float64(half.F16ToF32(uint16(o[0]) | uint16(o[1])<<8)))
				limit := 1 / math.Sqrt(12)
				if d < 0x1p-14 {
					limit *= 1.25
				}
				if rms := math.Sqrt(se6/SuperBlockSize) / (128 * d); rms > limit {
					t.Errorf("Q6_K %s ×%g: super-block %d RMS error %.3f steps", name, scale, b/SuperBlockSize, rms)
				}
			}
			t.Logf("%-20s ×%-5g Q5_K max|e| = %.2f of its bound, Q6_K %.2f", name, scale, worst5, worst6)
		}
	}
}

// TestKQuantsLadder: on the synthetic layer, each k-quant's SQNR is
// several dB above the one with a bit less, as 6 dB per bit predicts.
func TestKQuantsLadder(t *testing.T) {
	const rows, cols = 128, 1024
	w := realisticWeights(rows, cols)
	var last float64
	for i, k := range kQuants {
		data, y := kRoundTrip(t, k, w, cols)
		s := sqnr(w, y)
		t.Logf("%s: %.2f dB, %.4f bits per weight", k.name, s, float64(8*len(data))/float64(len(w)))
		if i > 0 && s < last+4 {
			t.Errorf("%s: %.2f dB is not 4 dB above the previous %.2f dB", k.name, s, last)
		}
		last = s
	}
}

func TestKQuantErrors(t *testing.T) {
	for _, k := range kQuants {
		x := superBlock()
		x[200] = float32(math.NaN())
		if _, err := k.quant(x, SuperBlockSize); err == nil || !strings.Contains(err.Error(), "weight 200") {
			t.Errorf("%s NaN: err = %v", k.name, err)
		}
		x = make([]float32, 2*SuperBlockSize)
		x[300] = float32(math.Inf(-1))
		if _, err := k.quant(x, SuperBlockSize); err == nil || !strings.Contains(err.Error(), "weight 300") {
			t.Errorf("%s −Inf: err = %v", k.name, err)
		}
		for _, rowLen := range []int{32, 96, 300} {
			if _, err := k.quant(make([]float32, 3*rowLen), rowLen); !errors.Is(err, ErrRowLength) {
				t.Errorf("%s rows of %d: err = %v, want ErrRowLength", k.name, rowLen, err)
			}
		}
		if _, err := k.quant(superBlock(1e9), SuperBlockSize); !errors.Is(err, ErrScaleOverflow) {
			t.Errorf("%s of 1e9: err = %v, want ErrScaleOverflow", k.name, err)
		}
		if _, err := k.quant(superBlock(1e5, -1e5), SuperBlockSize); err != nil {
			t.Errorf("%s of ±1e5: %v", k.name, err)
		}
		data, err := k.quant(make([]float32, 512), 512)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.dequant(make([]float32, 512), data[:len(data)-1]); err == nil {
			t.Errorf("%s: truncated payload accepted", k.name)
		}
		for name, f := range map[string]func(){
			"rows do not divide":        func() { k.quant(make([]float32, 300), 256) },
			"dst not whole super-block": func() { k.dequant(make([]float32, 100), nil) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s %s: no panic", k.name, name)
					}
				}()
				f()
			}()
		}
	}
	// A fit whose sums overflow float32 (|x|³ past 3.4e38) is an error, not
	// the garbage llama.cpp would write.
	if _, err := Q6_K(superBlock(1e13, -1e13), SuperBlockSize); !errors.Is(err, ErrScaleOverflow) {
		t.Errorf("Q6_K of ±1e13: err = %v", err)
	}
}

func BenchmarkQ5_K(b *testing.B) { benchmarkKQuant(b, Q5_K) }
func BenchmarkQ6_K(b *testing.B) { benchmarkKQuant(b, Q6_K) }

func benchmarkKQuant(b *testing.B, quant func([]float32, int) ([]byte, error)) {
	w := realisticWeights(64, 1024)
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		if _, err := quant(w, 1024); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQ8_0Into and BenchmarkQ4_0Into measure the block encoders as
// the checkpoint job calls them: measuring the error as they go.
func BenchmarkQ8_0Into(b *testing.B) { benchmarkInto(b, Q8_0Into, Q8_0BlockBytes) }
func BenchmarkQ4_0Into(b *testing.B) { benchmarkInto(b, Q4_0Into, Q4_0BlockBytes) }

func benchmarkInto(b *testing.B, into func([]byte, []float32, *Error) error, blockBytes int) {
	w := realisticWeights(64, 1024)
	dst := make([]byte, len(w)/BlockSize*blockBytes)
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		var e Error
		if err := into(dst, w, &e); err != nil {
			b.Fatal(err)
		}
	}
}
