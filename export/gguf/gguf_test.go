package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/quant"
)

func sample(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.05)
	}
	return x
}

// testFile lays out a file of every type this package encodes and
// returns it with the encoded data.
func testFile(t *testing.T) (*File, []byte) {
	t.Helper()
	f := &File{KV: []KV{{"general.name", "t"}, {"general.alignment", uint32(32)}, {"i", int32(-3)}, {"u64", uint64(1 << 40)},
		{"f", float32(0.5)}, {"d", 2.25}, {"b", true}, {"i64", int64(-7)}, {"list", []string{"a", "bc"}}}}
	for _, typ := range []Type{F32, F16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K} {
		f.Tensors = append(f.Tensors, TensorInfo{Name: typ.String() + ".w", Shape: []int64{3, 512}, Type: typ})
	}
	f.Tensors = append(f.Tensors, TensorInfo{Name: "bias", Shape: []int64{7}, Type: F32})
	size, err := f.Layout()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for i, ti := range f.Tensors {
		enc, err := Encode(ti.Type, sample(int(ti.Elements()), uint64(i)), 2)
		if err != nil {
			t.Fatal(err)
		}
		copy(data[ti.Offset:], enc)
	}
	return f, data
}

func TestRoundTrip(t *testing.T) {
	f, data := testFile(t)
	h, err := f.Header()
	if err != nil {
		t.Fatal(err)
	}
	if len(h)%Alignment != 0 {
		t.Fatalf("header of %d bytes is not aligned", len(h))
	}
	file := append(h, data...)
	got, start, err := Read(bytes.NewReader(file), int64(len(file)), "t.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if start != int64(len(h)) {
		t.Errorf("data starts at %d, want %d", start, len(h))
	}
	if !reflect.DeepEqual(got.Tensors, f.Tensors) {
		t.Errorf("tensors read back %+v, want %+v", got.Tensors, f.Tensors)
	}
	want := map[string]any{"general.name": "t", "i": int32(-3), "u64": uint64(1 << 40), "f": float32(0.5), "d": 2.25,
		"b": true, "i64": int64(-7), "list": []string{"a", "bc"}}
	for k, v := range want {
		if !reflect.DeepEqual(got.Lookup(k), v) {
			t.Errorf("%s = %#v, want %#v", k, got.Lookup(k), v)
		}
	}
	for i, ti := range f.Tensors {
		x := sample(int(ti.Elements()), uint64(i))
		n, _ := ti.Bytes()
		y := make([]float32, len(x))
		if err := Decode(ti.Type, y, file[start+ti.Offset:start+ti.Offset+n], 2); err != nil {
			t.Fatal(err)
		}
		var s2, e2 float64
		for j := range x {
			s2 += float64(x[j]) * float64(x[j])
			e2 += float64(x[j]-y[j]) * float64(x[j]-y[j])
		}
		sqnr := 10 * math.Log10(s2/max(e2, 1e-300))
		min := map[Type]float64{F32: 300, F16: 60, Q8_0: 35, Q4_0: 15, Q5_0: 21, Q5_1: 21, Q4_K: 17, Q5_K: 23, Q6_K: 29}[ti.Type]
		if sqnr < min {
			t.Errorf("%s: SQNR %.1f dB, want at least %.0f", ti.Name, sqnr, min)
		}
	}
}

// TestEncodeWorkers: the pieces that goroutines encode join to the bytes
// of one pass.
func TestEncodeWorkers(t *testing.T) {
	x := sample(256*300, 9)
	for _, typ := range []Type{F16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K} {
		one, err1 := Encode(typ, x, 1)
		many, err2 := Encode(typ, x, 7)
		if err1 != nil || err2 != nil || !bytes.Equal(one, many) {
			t.Errorf("%v: 1 and 7 workers differ (%v, %v)", typ, err1, err2)
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		ts   []TensorInfo
		want string
	}{
		{"duplicate", []TensorInfo{{Name: "a", Shape: []int64{32}, Type: F32}, {Name: "a", Shape: []int64{32}, Type: F32}}, "named twice"},
		{"long name", []TensorInfo{{Name: strings.Repeat("n", 64), Shape: []int64{32}, Type: F32}}, "1 to 63 bytes"},
		{"ragged rows", []TensorInfo{{Name: "a", Shape: []int64{2, 48}, Type: Q8_0}}, "not whole Q8_0 blocks"},
		{"rank 5", []TensorInfo{{Name: "a", Shape: []int64{1, 1, 1, 1, 32}, Type: F32}}, "rank 5"},
		{"zero dim", []TensorInfo{{Name: "a", Shape: []int64{0, 32}, Type: F32}}, "positive"},
	} {
		f := &File{Tensors: tt.ts}
		if _, err := f.Layout(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Layout error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	x := sample(64, 1)
	x[40] = float32(math.NaN())
	if _, err := Encode(Q8_0, x, 1); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("Q8_0 of a NaN: %v", err)
	}
	big := sample(32, 1)
	big[3] = 70000
	if _, err := Encode(F16, big, 1); err == nil || !strings.Contains(err.Error(), "value 3") {
		t.Errorf("F16 of 70000: %v", err)
	}
	if _, err := Encode(Q4_K, sample(32, 1), 1); err == nil {
		t.Errorf("Q4_K of 32 values: no error")
	}
}

// TestReadHostile: truncations and lies in a header are errors naming the
// file, found before large allocations.
func TestReadHostile(t *testing.T) {
	f, data := testFile(t)
	h, _ := f.Header()
	file := append(h, data...)
	for n := 0; n < len(h); n += 7 {
		if _, _, err := Read(bytes.NewReader(file[:n]), int64(n), "cut.gguf"); err == nil || !strings.Contains(err.Error(), "cut.gguf") {
			t.Fatalf("header cut at %d: %v", n, err)
		}
	}
	if _, _, err := Read(bytes.NewReader(file[:len(file)-5]), int64(len(file)-5), "short.gguf"); err == nil || !strings.Contains(err.Error(), "outside") { // past the last tensor's 4 bytes of padding
		t.Errorf("data cut by 5 bytes: %v", err)
	}
	huge := bytes.Clone(file)
	binary.LittleEndian.PutUint64(huge[8:], 1<<40) // tensor count
	if _, _, err := Read(bytes.NewReader(huge), int64(len(huge)), "huge.gguf"); err == nil || !strings.Contains(err.Error(), "tensor count") {
		t.Errorf("a tensor count of 2^40: %v", err)
	}
	bad := bytes.Clone(file)
	copy(bad, "GGML")
	if _, _, err := Read(bytes.NewReader(bad), int64(len(bad)), "bad.gguf"); err == nil || !strings.Contains(err.Error(), "not a GGUF file") {
		t.Errorf("wrong magic: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	file, data := testFile(&testing.T{})
	h, _ := file.Header()
	f.Add(append(h, data...))
	f.Add(h[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, start, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz.gguf")
		if err != nil {
			return
		}
		for _, ti := range got.Tensors {
			n, err := ti.Bytes()
			if err != nil || start+ti.Offset+n > int64(len(b)) {
				t.Fatalf("Read accepted tensor %+v past the %d-byte input", ti, len(b))
			}
		}
	})
}

// TestEncodeIntoError: the error that Q8_0, Q4_0, Q5_0 and Q5_1 measure in
// their pass is the one that decoding their bytes again gives.
func TestEncodeIntoError(t *testing.T) {
	x := sample(256*40, 3)
	x[17] = 0.9 // an outlier sets its block's scale
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, F16} {
		n, _ := typ.Bytes(int64(len(x)))
		dst := make([]byte, n)
		var got quant.Error
		if err := EncodeInto(typ, dst, x, &got, 0); err != nil {
			t.Fatal(err)
		}
		var want quant.Error
		if err := measure(typ, dst, x, &want); err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Noise-want.Noise) > 1e-5*want.Noise || math.Abs(got.Signal-want.Signal) > 1e-5*want.Signal || got.MaxAbs != want.MaxAbs || want.Noise == 0 {
			t.Errorf("%v: measured %+v in the pass, %+v from the bytes", typ, got, want)
		}
	}
}

func TestParseTypeNames(t *testing.T) {
	for name, want := range map[string]Type{"q4_1": Q4_1, "Q5_0": Q5_0, "q5_1": Q5_1, "q5_k": Q5_K, "Q6_K": Q6_K, "bf16": BF16} {
		if got, err := ParseType(name); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseType("q4_k_m"); err == nil {
		t.Error(`ParseType("q4_k_m"): a preset is not a type`)
	}
	// Q4_1 is read, not written.
	if _, err := Encode(Q4_1, sample(64, 1), 1); err == nil {
		t.Error("Encode(Q4_1): no error")
	}
	if err := Decode(Q4_1, make([]float32, 32), make([]byte, 20), 1); err != nil {
		t.Errorf("Decode(Q4_1): %v", err)
	}
}
