package artifact

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/half"

	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/compress/quant"
)

type input struct {
	name  string
	shape []int
	w     []float32
	mask  prune.Mask
}

func testInputs() []input {
	rng := rand.New(rand.NewPCG(21, 22))
	randn := func(n int, scale float64) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * scale)
		}
		return w
	}
	pruned := randn(8*64, 0.1)
	m, err := prune.Magnitude(pruned, 0.8)
	if err != nil {
		panic(err)
	}
	longGaps := make([]float32, 2*320)
	longGaps[3], longGaps[300], longGaps[639] = 0.5, -0.25, 1
	return []input{
		{"empty", []int{0, 32}, nil, nil},
		{"empty-vector", []int{0}, nil, nil},
		{"all-zero", []int{4, 32}, make([]float32, 128), nil},
		{"single", []int{1}, []float32{0.75}, nil},
		{"scalar", nil, []float32{-2}, nil},
		{"bias", []int{64}, randn(64, 0.02), nil},
		{"long-gaps", []int{2, 320}, longGaps, nil},
		{"pruned-mask", []int{8, 64}, pruned, m},
		{"dense", []int{3, 96}, randn(288, 1), nil},
		{"ragged", []int{3, 50}, randn(150, 1), nil}, // Q8_0/Q4_0: a block of 32 and one of 18 per row
	}
}

func testEncodings() []Encoding {
	var encs []Encoding
	for _, k := range []Kind{F32, F16, Int8, Int8Tensor, Q8_0, Q4_0, KMeans} {
		for _, sparse := range []bool{false, true} {
			for _, half := range []bool{false, true} {
				e := Encoding{Kind: k, Sparse: sparse, HalfSide: half}
				if k == KMeans {
					e.Bits = 3
				}
				if sparse {
					e.IndexBits = 2 // short, so gaps overflow
				}
				if e.validate() == nil {
					encs = append(encs, e)
				}
			}
		}
	}
	return append(encs, Encoding{Kind: KMeans, Bits: 8, Sparse: true}, Encoding{Kind: KMeans, Bits: 1})
}

// reference returns the quant-then-dequant of the masked input that the
// tensor's Dense must equal, computed with compress/quant directly (nil
// for k-means, checked separately).
func reference(t *testing.T, in input, e Encoding) []float32 {
	w := slices.Clone(in.w)
	if in.mask != nil {
		in.mask.Apply(w)
	}
	out := make([]float32, len(w))
	cols := len(w)
	if len(in.shape) > 0 && in.shape[0] > 0 {
		cols = len(w) / in.shape[0]
	}
	switch e.Kind {
	case F32:
		return w
	case F16:
		for i, x := range w {
			out[i] = half.F16ToF32(half.F32ToF16(x))
		}
	case Int8, Int8Tensor:
		if e.Kind == Int8Tensor {
			cols = len(w)
		}
		for r := 0; r < len(w); r += max(cols, 1) {
			part := w[r : r+cols]
			s := quant.Int8Scale(part)
			if e.HalfSide {
				s = half.F16ToF32(half.F32ToF16(s))
			}
			q := make([]int8, cols)
			quant.QuantizeInt8(q, part, s)
			for i, c := range q {
				out[r+i] = float32(c) * s
			}
		}
	case Q8_0, Q4_0:
		if len(w) == 0 {
			return out
		}
		f, deq := quant.Q8_0, quant.DequantizeQ8_0
		if e.Kind == Q4_0 {
			f, deq = quant.Q4_0, quant.DequantizeQ4_0
		}
		// Each row's blocks one at a time; a short last block is padded
		// with zeros, which leave its scale as it is.
		l := in.shape[len(in.shape)-1]
		for r := 0; r < len(w); r += l {
			for c := 0; c < l; c += 32 {
				var blk, got [32]float32
				copy(blk[:], w[r+c:r+min(c+32, l)])
				b, err := f(blk[:], 32)
				if err != nil {
					t.Fatal(err)
				}
				if err := deq(got[:], b); err != nil {
					t.Fatal(err)
				}
				copy(out[r+c:r+min(c+32, l)], got[:])
			}
		}
	case KMeans:
		return nil
	}
	return out
}

func TestRoundTripEveryEncoding(t *testing.T) {
	for _, in := range testInputs() {
		for _, e := range testEncodings() {
			name := fmt.Sprintf("%s/%s", in.name, e)
			built, err := Quantize(in.name, in.shape, in.w, in.mask, e)
			if errors.Is(err, quant.ErrRowLength) && (e.Kind == Q8_0 || e.Kind == Q4_0) && len(in.shape) == 0 {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			file, err := Marshal([]Tensor{built}, map[string]string{"arch": "test"})
			if err != nil {
				t.Fatalf("%s: Marshal: %v", name, err)
			}
			a, err := Decode(file, name)
			if err != nil {
				t.Fatalf("%s: Decode: %v", name, err)
			}
			got := a.Tensors[0]
			if got.Enc != built.Enc || !slices.Equal(got.Shape, built.Shape) || got.Name != built.Name {
				t.Errorf("%s: decoded %q %v %v, built %q %v %v", name, got.Name, got.Shape, got.Enc, built.Name, built.Shape, built.Enc)
			}
			dense, want := got.Dequantize(), built.Dequantize()
			if !bitsEqual(dense, want) {
				t.Errorf("%s: decoded values differ from the built tensor's", name)
			}
			// Sparse tensors give +0 where GGUF's Q4_0 gives d·0 = −0.
			if ref := reference(t, in, e); ref != nil && !slices.Equal(dense, ref) {
				t.Errorf("%s: values differ from quant-dequant of the input:\n got %v\nwant %v", name, head(dense), head(ref))
			}
			mask := in.mask
			if mask == nil {
				mask = prune.NonZero(in.w)
			}
			for i, v := range dense {
				if !mask[i] && v != 0 {
					t.Errorf("%s: pruned position %d decodes to %g", name, i, v)
					break
				}
			}
			if e.Kind == KMeans {
				checkKMeans(t, name, &got, in, mask)
			}
			if e.Kind == Q8_0 || e.Kind == Q4_0 {
				checkGGUF(t, name, &got, in, mask)
			}
			checkCSR(t, name, &got, dense)
			if s := a.Sizes[0]; a.HeaderBytes+s.Total()+4 != len(file) || (s.Index > 0) != e.Sparse {
				t.Errorf("%s: sizes %+v + header %d + 4 != %d bytes", name, s, a.HeaderBytes, len(file))
			}
		}
	}
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func head(v []float32) []float32 { return v[:min(len(v), 8)] }

// checkKMeans: kept weights decode to their nearest centroid, and the
// codebook has 2^bits entries.
func checkKMeans(t *testing.T, name string, tt *Tensor, in input, mask prune.Mask) {
	dense := tt.Dequantize()
	if len(tt.Centroids) != 1<<tt.Enc.Bits {
		t.Errorf("%s: %d centroids", name, len(tt.Centroids))
	}
	cands := tt.Centroids
	if !tt.Enc.Sparse && slices.Contains(mask, false) {
		cands = cands[1:] // kept weights never use the reserved zero
	}
	for i, x := range in.w {
		if !mask[i] {
			continue
		}
		d := math.Abs(float64(dense[i] - x))
		for _, c := range cands {
			if math.Abs(float64(c-x)) < d-1e-3*math.Abs(float64(x))-1e-6 {
				t.Errorf("%s: w[%d] = %g decodes to %g, centroid %g is nearer", name, i, x, dense[i], c)
				return
			}
		}
	}
}

func checkGGUF(t *testing.T, name string, tt *Tensor, in input, mask prune.Mask) {
	w := slices.Clone(in.w)
	mask.Apply(w)
	if len(w) == 0 {
		return
	}
	f := quant.Q8_0
	if tt.Enc.Kind == Q4_0 {
		f = quant.Q4_0
	}
	want, err := f(w, in.shape[len(in.shape)-1])
	if errors.Is(err, quant.ErrRowLength) {
		if _, err := tt.GGUFBlocks(); !errors.Is(err, quant.ErrRowLength) {
			t.Errorf("%s: GGUFBlocks of short blocks: err = %v, want ErrRowLength", name, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := tt.GGUFBlocks()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: GGUFBlocks differ from quant (%v)", name, err)
	}
}

func checkCSR(t *testing.T, name string, tt *Tensor, dense []float32) {
	rowPtr, colIdx, vals := tt.CSR()
	rows := tt.rows()
	if len(rowPtr) != rows+1 || int(rowPtr[rows]) != len(colIdx) || len(colIdx) != len(vals) {
		t.Errorf("%s: CSR of %d rows has %d row pointers, %d columns, %d values", name, rows, len(rowPtr), len(colIdx), len(vals))
		return
	}
	back := make([]float32, len(dense))
	cols := 0
	if rows > 0 {
		cols = len(dense) / rows
	}
	for r := range rows {
		for k := rowPtr[r]; k < rowPtr[r+1]; k++ {
			back[r*cols+int(colIdx[k])] = vals[k]
		}
	}
	if !slices.Equal(back, dense) { // ±0 alike: CSR leaves out −0
		t.Errorf("%s: CSR does not rebuild Dense", name)
	}
}

func TestQuantizeErrors(t *testing.T) {
	nan := []float32{1, float32(math.NaN())}
	tests := []struct {
		name  string
		shape []int
		w     []float32
		enc   Encoding
		is    error
	}{
		{"NaN", []int{2}, nan, Encoding{Kind: F32}, nil},
		{"Inf", []int{2}, []float32{float32(math.Inf(-1)), 0}, Encoding{Kind: KMeans, Bits: 2}, nil},
		{"q8_0 scalar", nil, []float32{1}, Encoding{Kind: Q8_0}, quant.ErrRowLength},
		{"unknown kind", []int{1}, []float32{1}, Encoding{Kind: "q2_k"}, nil},
		{"sparse f32", []int{1}, []float32{1}, Encoding{Kind: F32, Sparse: true}, nil},
		{"kmeans 9 bits", []int{1}, []float32{1}, Encoding{Kind: KMeans, Bits: 9}, nil},
		{"f16 overflow", []int{1}, []float32{1e6}, Encoding{Kind: F16}, nil},
		{"f16 scale underflow", []int{1}, []float32{1e-30}, Encoding{Kind: Int8, HalfSide: true}, nil},
	}
	for _, tt := range tests {
		_, err := Quantize(tt.name, tt.shape, tt.w, nil, tt.enc)
		if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v", tt.name, err)
		} else if !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s: error %q does not name the tensor", tt.name, err)
		}
	}
}

// A sparse tensor with IndexBits 0 gets the index width whose stream is
// smallest.
func TestAutoIndexBits(t *testing.T) {
	in := testInputs()[7] // pruned-mask: 80% zeros
	auto, err := Quantize(in.name, in.shape, in.w, in.mask, Encoding{Kind: KMeans, Bits: 4, Sparse: true})
	if err != nil || auto.Enc.IndexBits < 1 || auto.Enc.IndexBits > 8 {
		t.Fatalf("auto index bits: %v %v", auto.Enc, err)
	}
	autoRec, _, _ := appendTensor(nil, &auto, Version)
	for ib := 1; ib <= 8; ib++ {
		x := auto
		x.Enc.IndexBits = ib
		rec, _, _ := appendTensor(nil, &x, Version)
		if len(rec) < len(autoRec) {
			t.Errorf("index bits %d give %d bytes, auto chose %d with %d", ib, len(rec), auto.Enc.IndexBits, len(autoRec))
		}
	}
}

func sampleArtifact(t testing.TB) []byte {
	var ts []Tensor
	for i, in := range testInputs()[5:9] {
		e := []Encoding{{Kind: KMeans, Bits: 4, Sparse: true}, {Kind: Q8_0}, {Kind: Int8, HalfSide: true}, {Kind: F16}}[i%4]
		x, err := Quantize(in.name, in.shape, in.w, in.mask, e)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	meta := map[string]string{"arch": "mlp 784-300-100-10", "scale": strings.Repeat("0.1307,", 100)}
	b, err := Marshal(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withCRC(b []byte) []byte {
	b = slices.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

func TestDecodeErrors(t *testing.T) {
	good := sampleArtifact(t)
	a, err := Decode(good, "good.lbcm")
	if err != nil {
		t.Fatal(err)
	}
	if a.Meta["arch"] != "mlp 784-300-100-10" || len(a.Tensors) != 4 || a.Tensor("bias") == nil || a.Tensor("nope") != nil {
		t.Fatalf("decoded %v %d tensors", a.Meta["arch"], len(a.Tensors))
	}
	newer := slices.Clone(good)
	newer[4] = MaxVersion + 1
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0x10
	tests := []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"empty", nil, "not a lightbeam artifact", ErrCorrupt},
		{"wrong magic", append([]byte("GGUF"), good[4:]...), "not a lightbeam artifact", ErrCorrupt},
		{"newer", newer, fmt.Sprintf("f.lbcm: artifact version %d is newer than this lightbeam (max %d)", MaxVersion+1, MaxVersion), ErrVersion},
		{"truncated", good[:len(good)-10], "CRC-32C mismatch", ErrCorrupt},
		{"bit flip", flipped, "CRC-32C mismatch", ErrCorrupt},
		{"truncated, CRC fixed", withCRC(append(slices.Clone(good[:len(good)-20]), 0, 0, 0, 0)), "truncated", ErrCorrupt},
		{"trailing byte, CRC fixed", withCRC(append(slices.Clone(good[:len(good)-4]), 7, 0, 0, 0, 0)), "after the last tensor", ErrCorrupt},
	}
	for _, tt := range tests {
		_, err := Decode(tt.data, "f.lbcm")
		if err == nil || !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "f.lbcm: ") {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestMetadataCompresses(t *testing.T) {
	var sb strings.Builder
	for i := range 784 {
		fmt.Fprintf(&sb, "%.4g,", 1/(0.05+float64(i%28)*0.01))
	}
	meta := map[string]string{"preprocess.scale": sb.String(), "arch": "mlp"}
	b, err := Marshal(nil, meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= sb.Len()/3 {
		t.Errorf("%d bytes of metadata became a %d-byte file", sb.Len(), len(b))
	}
	a, err := Decode(b, "meta")
	if err != nil || a.Meta["preprocess.scale"] != sb.String() || a.Meta["arch"] != "mlp" || len(a.Meta) != 2 {
		t.Errorf("metadata round trip: %v", err)
	}
	t.Logf("%d bytes of metadata → %d-byte artifact", sb.Len(), len(b))
}

func TestTable(t *testing.T) {
	x, err := Quantize("w", []int{2}, []float32{1, 2}, nil, Encoding{Kind: F32})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal([]Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Decode(b, "m.lbc")
	if err != nil || !slices.Equal(a.Tensors[0].Dequantize(), []float32{1, 2}) {
		t.Fatalf("Decode: %v", err)
	}
	if !strings.Contains(a.Table(), "bits/w") {
		t.Error("the table has no header")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sampleArtifact(f))
	for _, in := range testInputs() {
		for _, e := range testEncodings() {
			if x, err := Quantize(in.name, in.shape, in.w, in.mask, e); err == nil {
				if b, err := Marshal([]Tensor{x}, nil); err == nil && len(b) < 2000 {
					f.Add(b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Decode(data, "fuzz")
		if len(data) < 9 {
			return
		}
		// The fuzzer cannot forge CRCs; fix it up to reach the parser.
		a, err := Decode(withCRC(data), "fuzz")
		if err != nil {
			return
		}
		for i := range a.Tensors {
			tt := &a.Tensors[i]
			if tt.Len() > 1<<20 || tt.rows() > 1<<20 {
				continue
			}
			dense := tt.Dequantize()
			checkCSR(t, "fuzz", tt, dense)
			tt.GGUFBlocks()
		}
		again, err := Marshal(a.Tensors, a.Meta)
		if err != nil {
			t.Fatalf("re-marshal a decoded artifact: %v", err)
		}
		if _, err := Decode(again, "again"); err != nil {
			t.Fatalf("decode a re-marshalled artifact: %v", err)
		}
	})
}
