package quantize

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/quant"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// lbCheckpoint writes a checkpoint of F32 tensors (one large enough to
// span several 1 MiB chunks), a 1-D bias, an empty matrix and an I32
// tensor, and returns its path and the float tensors.
func lbCheckpoint(t *testing.T) (string, []model.Tensor) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	ts := []model.Tensor{
		{Name: "big.weight", Shape: []int{1024, 384}, Data: randn(1024 * 384)}, // 1.5 MiB
		{Name: "conv.weight", Shape: []int{6, 3, 5}, Data: randn(90)},
		{Name: "big.bias", Shape: []int{384}, Data: randn(384)},
		{Name: "empty.weight", Shape: []int{4, 0}, Data: nil},
	}
	dir := t.TempDir()
	writeSafetensors(t, dir, "f32.safetensors", ts...)
	// An I32 tensor, in a second shard of a directory checkpoint.
	ids := []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 9, 0, 0, 0}
	hdr := `{"ids":{"dtype":"I32","shape":[3],"data_offsets":[0,12]}}`
	raw := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	raw = append(append(raw, hdr...), ids...)
	if err := os.WriteFile(filepath.Join(dir, "ids.safetensors"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, ts
}

// --quant=int8 --format=lightbeam writes a version 2 artifact that
// artifact.Decode reads back to compress/quant's per-row int8 codes and
// scales of every matrix, the bias as f32 and the I32 tensor unchanged;
// 1 MiB and 64 MiB chunks give the same file; a corrupted byte is caught
// by the CRC.
func TestLightbeamInt8(t *testing.T) {
	ckpt, ts := lbCheckpoint(t)
	small, large := t.TempDir(), t.TempDir()
	rep := run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: small, Quant: "int8", Format: "lightbeam", ChunkMB: 1})
	run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: large, Quant: "int8", Format: "lightbeam", ChunkMB: 64})
	a1, err := os.ReadFile(filepath.Join(small, LBCFile))
	if err != nil {
		t.Fatal(err)
	}
	a64, err := os.ReadFile(filepath.Join(large, LBCFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1, a64) {
		t.Fatalf("1 MiB chunks give %d bytes, 64 MiB chunks %d, or other bytes", len(a1), len(a64))
	}
	if rep.Chunks <= len(rep.Tensors) {
		t.Errorf("%d chunks for %d tensors: the large tensor was not cut", rep.Chunks, len(rep.Tensors))
	}
	a, err := artifact.Decode(a1, "model.lbc")
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != artifact.Version2 || len(a.Tensors) != 5 || a.Meta["lightbeam.source"] != ckpt {
		t.Fatalf("decoded v%d, %d tensors, meta %v", a.Version, len(a.Tensors), a.Meta)
	}
	for _, src := range ts {
		got := a.Tensor(src.Name)
		if got == nil || !slices.Equal(got.Shape, src.Shape) {
			t.Fatalf("%s: decoded %+v", src.Name, got)
		}
		if len(src.Shape) == 1 {
			if got.Enc.Kind != artifact.F32 || !slices.Equal(got.Values, src.Data) {
				t.Errorf("%s: %s, values differ from the source", src.Name, got.Enc)
			}
			continue
		}
		rows := src.Shape[0]
		codes, scales := referenceInt8(src.Data, rows)
		want, _ := artifact.Quantize(src.Name, src.Shape, src.Data, nil, artifact.Encoding{Kind: artifact.Int8})
		if got.Enc.Kind != artifact.Int8 || len(got.Codes) != len(codes) || !slices.Equal(got.Scales, scales) {
			t.Errorf("%s: %s with scales %v, want int8 with quant's %v", src.Name, got.Enc, head(got.Scales), head(scales))
			continue
		}
		for i, c := range codes {
			if int8(got.Codes[i]) != c {
				t.Errorf("%s: code %d is %d, referenceInt8 gives %d", src.Name, i, int8(got.Codes[i]), c)
				break
			}
		}
		if !slices.Equal(got.Dequantize(), want.Dequantize()) {
			t.Errorf("%s: dequantized values differ from artifact.Quantize's int8", src.Name)
		}
	}
	if ids := a.Tensor("ids"); ids == nil || ids.Enc.Kind != artifact.Raw || ids.DType != "I32" || !slices.Equal(ids.Dequantize(), []float32{1, -2, 9}) {
		t.Errorf("ids decoded as %+v", ids)
	}

	// The report: per tensor its kind, bytes and error.
	raw, err := os.ReadFile(filepath.Join(small, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	var out int64
	for _, tr := range r.Tensors {
		out += tr.BytesOut
		if tr.Name == "big.weight" && (tr.Type != "int8" || tr.SQNRdB == nil || *tr.SQNRdB < 35 || tr.MaxAbs == 0 || tr.BytesOut != 1024*(4+384)+int64(a.Sizes[0].Header)) {
			t.Errorf("big.weight report %+v", tr)
		}
		if tr.Name == "ids" && (tr.Type != "raw" || tr.SQNRdB != nil) {
			t.Errorf("ids report %+v", tr)
		}
	}
	if r.Format != "lightbeam" || r.BytesOut != int64(len(a1)) || out+int64(a.HeaderBytes)+4 != r.BytesOut {
		t.Errorf("report: format %s, %d bytes out (tensors %d + header %d + 4), file %d", r.Format, r.BytesOut, out, a.HeaderBytes, len(a1))
	}
	if tab := rep.Table(); !strings.Contains(tab, "int8") || !strings.Contains(tab, "raw") {
		t.Errorf("table:\n%s", tab)
	}

	for _, i := range []int{len(a1) / 3, len(a1) - 5} {
		bad := slices.Clone(a1)
		bad[i] ^= 1
		if _, err := artifact.Decode(bad, "bad.lbc"); !errors.Is(err, artifact.ErrCorrupt) || !strings.Contains(err.Error(), "CRC") {
			t.Errorf("byte %d flipped: %v, want a CRC mismatch", i, err)
		}
	}
}

// The gs:// output, assembled from parts by composition, equals the local
// one byte for byte.
func TestLightbeamGCS(t *testing.T) {
	ctx := context.Background()
	ckpt, _ := lbCheckpoint(t)
	root := gcstest.Root(t)
	for _, f := range []string{"f32.safetensors", "ids.safetensors"} {
		b, err := os.ReadFile(filepath.Join(ckpt, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(root, "ckpt", f), b); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: local, Quant: "int8", Format: "lightbeam", ChunkMB: 1})
	remote := storage.Join(root, "out")
	run(t, Config{Checkpoint: storage.Join(root, "ckpt"), Arch: "raw", Out: remote, Quant: "int8", Format: "lightbeam", ChunkMB: 1})
	lb, err := os.ReadFile(filepath.Join(local, LBCFile))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := storage.ReadFile(ctx, storage.Join(remote, LBCFile))
	if err != nil {
		t.Fatal(err)
	}
	// The metadata names the source, which differs; the records do not.
	la, err := artifact.Decode(lb, "local")
	if err != nil {
		t.Fatal(err)
	}
	ra, err := artifact.Decode(rb, "remote")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lb[la.HeaderBytes:len(lb)-4], rb[ra.HeaderBytes:len(rb)-4]) {
		t.Errorf("the gs:// artifact's records (%d bytes) differ from the local one's (%d)", len(rb), len(lb))
	}
	left, err := storage.List(ctx, storage.Join(remote, partsDir, "*"))
	if err != nil || len(left) != 0 {
		t.Errorf("parts left in %s: %v (%v)", remote, left, err)
	}
}

// Combinations of format and quant that cannot be written are refused
// with the reason.
func TestLightbeamRefused(t *testing.T) {
	dir := t.TempDir()
	p := writeSafetensors(t, dir, "m.safetensors", model.Tensor{Name: "w", Shape: []int{2, 32}, Data: make([]float32, 64)})
	nan := writeSafetensors(t, dir, "nan.safetensors", model.Tensor{Name: "w", Shape: []int{2, 2}, Data: []float32{1, float32(math.NaN()), 0, 0}})
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Checkpoint: p, Out: t.TempDir(), Quant: "int8"}, "GGUF has no int8 type"},
		{Config{Checkpoint: p, Out: t.TempDir(), Quant: "int8", Format: "gguf"}, "--format=lightbeam"},
		{Config{Checkpoint: p, Out: t.TempDir(), Quant: "q8_0", Format: "lightbeam"}, "--quant=int8 only"},
		{Config{Checkpoint: p, Out: t.TempDir(), Quant: "int8", Format: "lightbeam", Quant1D: true}, "1-D tensors stay f32"},
		{Config{Checkpoint: p, Out: t.TempDir(), Quant: "int8", Format: "onnx"}, "gguf or lightbeam"},
		{Config{Checkpoint: nan, Out: t.TempDir(), Quant: "int8", Format: "lightbeam"}, "NaN"},
	} {
		_, err := Run(context.Background(), c.cfg, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}

func head[T any](x []T) []T { return x[:min(len(x), 4)] }

// referenceInt8 quantizes w as rows rows of int8 codes, each with its own
// scale, as compress/quant defines them: the reference that the job's
// int8 records must equal.
func referenceInt8(w []float32, rows int) ([]int8, []float32) {
	scales := make([]float32, rows)
	cols := len(w) / max(rows, 1)
	for r := range scales {
		scales[r] = quant.Int8Scale(w[r*cols : (r+1)*cols])
	}
	codes := make([]int8, len(w))
	quant.QuantizeInt8Rows(codes, w, scales)
	return codes, scales
}

// An F16 checkpoint of shards (gen_checkpoint.py) becomes int8 rows equal
// to referenceInt8 of its values converted to float32.
func TestLightbeamF16Shards(t *testing.T) {
	py := pyenv.Need(t, "numpy", "safetensors")
	ctx := context.Background()
	ckpt, files := generate(t, py, "f16", 2, 3)
	out := t.TempDir()
	run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: out, Quant: "int8", Format: "lightbeam", ChunkMB: 1})
	b, err := os.ReadFile(filepath.Join(out, LBCFile))
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.Decode(b, LBCFile)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		h, err := ReadHeader(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ht := range h.Tensors {
			got := a.Tensor(ht.Name)
			if got == nil {
				t.Fatalf("%s missing", ht.Name)
			}
			if len(ht.Shape) < 2 || ht.DType != "F16" {
				continue
			}
			x := make([]float32, (ht.End-ht.Begin)/2)
			model.DecodeFloats(x, raw[ht.Begin:ht.End], "F16")
			rows := ht.Shape[0]
			codes, scales := referenceInt8(x, rows)
			if got.Enc.Kind != artifact.Int8 || !slices.Equal(got.Scales, scales) || len(got.Codes) != len(codes) {
				t.Fatalf("%s: %s, scales differ from referenceInt8's", ht.Name, got.Enc)
			}
			for i, c := range codes {
				if int8(got.Codes[i]) != c {
					t.Fatalf("%s: code %d is %d, want %d", ht.Name, i, int8(got.Codes[i]), c)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no F16 matrix checked")
	}
}
