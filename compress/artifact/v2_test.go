package artifact

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/quant"
	"github.com/lightbeam-ml/lightbeam/internal/crc32c"
)

// Every encoding round-trips through a version 2 file; dense int8 is
// stored there as raw rows whose scales and codes are quant's.
func TestV2RoundTripEveryEncoding(t *testing.T) {
	for _, in := range testInputs() {
		for _, e := range testEncodings() {
			name := fmt.Sprintf("%s/%s", in.name, e)
			built, err := Quantize(in.name, in.shape, in.w, in.mask, e)
			if errors.Is(err, quant.ErrRowLength) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			file, err := MarshalV2([]Tensor{built}, map[string]string{"arch": "test"})
			if err != nil {
				t.Fatalf("%s: MarshalV2: %v", name, err)
			}
			a, err := Decode(file, name)
			if err != nil {
				t.Fatalf("%s: Decode: %v", name, err)
			}
			got := a.Tensors[0]
			if a.Version != Version2 || got.Enc != built.Enc || !slices.Equal(got.Shape, built.Shape) {
				t.Errorf("%s: decoded v%d %v %v, built %v %v", name, a.Version, got.Shape, got.Enc, built.Shape, built.Enc)
			}
			if !bitsEqual(got.Dequantize(), built.Dequantize()) {
				t.Errorf("%s: decoded values differ from the built tensor's", name)
			}
			if s := a.Sizes[0]; a.HeaderBytes+s.Total()+4 != len(file) {
				t.Errorf("%s: sizes %+v + header %d + 4 != %d bytes", name, s, a.HeaderBytes, len(file))
			}
			if built.rawRows() {
				n := built.Len()
				want, _ := PayloadBytes(in.shape, Int8, "")
				if s := a.Sizes[0]; int64(s.Side+s.Codes) != want || s.Codes != n {
					t.Errorf("%s: int8 rows take %+v, want %d bytes", name, s, want)
				}
				if !slices.Equal(got.Codes, built.Codes) || !slices.Equal(got.Scales, built.Scales) {
					t.Errorf("%s: decoded codes or scales differ", name)
				}
			}
		}
	}
}

// A file assembled piece by piece (Prefix, RecordHeader, PutInt8Row, raw
// bytes, the CRC joined with crc32c.Combine) is MarshalV2's, byte for byte,
// and decodes to the codes and scales of quant.Int8Scale and
// quant.QuantizeInt8Rows.
func TestV2Pieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rows, cols := 5, 37
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	scales := make([]float32, rows)
	for r := range scales {
		scales[r] = quant.Int8Scale(w[r*cols : (r+1)*cols])
	}
	codes := make([]int8, len(w))
	quant.QuantizeInt8Rows(codes, w, scales)
	ids := []byte{1, 0, 0, 0, 255, 255, 255, 255, 7, 0, 0, 0} // I32 1, -1, 7
	bias := []float32{0.5, -1.25}
	meta := map[string]string{"lightbeam.source": "test"}

	var pieces [][]byte
	pieces = append(pieces, Prefix(meta, 3))
	h, err := RecordHeader("w", []int{rows, cols}, Int8, "")
	if err != nil {
		t.Fatal(err)
	}
	pieces = append(pieces, h)
	for r := range rows {
		row := make([]byte, 4+cols)
		if s := PutInt8Row(row, w[r*cols:(r+1)*cols]); s != scales[r] {
			t.Fatalf("row %d scale %v, want %v", r, s, scales[r])
		}
		pieces = append(pieces, row)
	}
	h, _ = RecordHeader("ids", []int{3}, Raw, "I32")
	pieces = append(pieces, h, ids)
	h, _ = RecordHeader("bias", []int{2}, F32, "")
	var fb []byte
	for _, v := range bias {
		fb = binary.LittleEndian.AppendUint32(fb, math.Float32bits(v))
	}
	pieces = append(pieces, h, fb)
	var file []byte
	crc := CRC(nil)
	for _, p := range pieces {
		file = append(file, p...)
		crc = crc32c.Combine(crc, CRC(p), int64(len(p)))
	}
	if crc != CRC(file) {
		t.Fatalf("combined CRC %08x, want %08x", crc, CRC(file))
	}
	file = binary.LittleEndian.AppendUint32(file, crc)

	bytesCodes := make([]uint8, len(codes))
	for i, c := range codes {
		bytesCodes[i] = uint8(c)
	}
	ts := []Tensor{
		{Name: "w", Shape: []int{rows, cols}, Enc: Encoding{Kind: Int8}, Codes: bytesCodes, Scales: scales},
		{Name: "ids", Shape: []int{3}, Enc: Encoding{Kind: Raw}, DType: "I32", Raw: ids},
		{Name: "bias", Shape: []int{2}, Enc: Encoding{Kind: F32}, Values: bias},
	}
	want, err := MarshalV2(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != string(want) {
		t.Fatalf("assembled file (%d bytes) differs from MarshalV2's (%d)", len(file), len(want))
	}
	a, err := Decode(file, "pieces.lbc")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Tensor("w"); !slices.Equal(got.Codes, bytesCodes) || !slices.Equal(got.Scales, scales) {
		t.Errorf("w decodes to other codes or scales than quant.QuantizeInt8Rows'")
	}
	if got := a.Tensor("ids").Dequantize(); !slices.Equal(got, []float32{1, -1, 7}) {
		t.Errorf("ids decode to %v", got)
	}
	if rep := a.Table(); !strings.Contains(rep, "raw") || !strings.Contains(rep, "int8") {
		t.Errorf("report lacks the kinds:\n%s", rep)
	}
	for _, i := range []int{5, len(Prefix(meta, 3)) + 3, len(file) / 2, len(file) - 1} {
		bad := slices.Clone(file)
		bad[i] ^= 0x10
		if _, err := Decode(bad, "bad.lbc"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
}

func TestCRCCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 5000)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for _, cut := range []int{0, 1, 17, 1024, 4999, 5000} {
		if got := crc32c.Combine(CRC(b[:cut]), CRC(b[cut:]), int64(len(b)-cut)); got != CRC(b) {
			t.Errorf("cut at %d: %08x, want %08x", cut, got, CRC(b))
		}
	}
}

// Raw tensors exist only in version 2: Marshal refuses them and Decode
// refuses them in a version 1 file; sizes not known from the shape are
// errors.
func TestV2Errors(t *testing.T) {
	raw := Tensor{Name: "ids", Shape: []int{2}, Enc: Encoding{Kind: Raw}, DType: "U8", Raw: []byte{1, 2}}
	if _, err := Marshal([]Tensor{raw}, nil); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("Marshal of a raw tensor: %v", err)
	}
	file, err := MarshalV2([]Tensor{raw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	file[len(Magic)] = Version
	body := file[:len(file)-4]
	binary.LittleEndian.PutUint32(file[len(body):], CRC(body))
	if _, err := Decode(file, "v1.lbcm"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("raw tensor in a v1 file: %v", err)
	}
	bad := raw
	bad.Raw = []byte{1}
	if _, err := MarshalV2([]Tensor{bad}, nil); err == nil {
		t.Error("a raw payload of the wrong size was accepted")
	}
	for _, c := range []struct {
		kind  Kind
		dtype string
	}{{KMeans, ""}, {Raw, "F8_E4M3"}, {Int8, "I32"}} {
		if _, err := PayloadBytes([]int{2, 2}, c.kind, c.dtype); err == nil {
			t.Errorf("PayloadBytes(%s, %q) has no error", c.kind, c.dtype)
		}
	}
	if _, err := PayloadBytes([]int{1 << 20, 1 << 20}, Int8, ""); err == nil {
		t.Error("a tensor of 2^40 values has a payload size")
	}
	if _, err := Quantize("x", []int{1}, []float32{1}, nil, Encoding{Kind: Raw}); err == nil {
		t.Error("Quantize to raw has no error")
	}
}
