package quantize

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/lightbeam-ml/lightbeam/llm/llmtest"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

func TestMain(m *testing.M) {
	code := ptest.MainRet(m)
	llmtest.Cleanup()
	os.Exit(code)
}

// generate writes a synthetic llama-style checkpoint with
// scripts/gen_checkpoint.py (the safetensors package writes it) and
// returns the path to pass as --checkpoint and its safetensors files.
func generate(t *testing.T, py, dtype string, shards int, sizeMB float64) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "ckpt")
	if shards == 1 {
		out += ".safetensors"
	}
	args := []string{filepath.Join("..", "..", "scripts", "gen_checkpoint.py"), "--out", out, "--dtype", dtype,
		"--shards", strconv.Itoa(shards), "--size-mb", strconv.FormatFloat(sizeMB, 'g', -1, 64), "--hidden", "256", "--quiet"}
	if b, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("gen_checkpoint.py: %v\n%s", err, b)
	}
	if shards == 1 {
		return out, []string{out}
	}
	files, err := filepath.Glob(filepath.Join(out, "*.safetensors"))
	if err != nil || len(files) != shards {
		t.Fatalf("gen_checkpoint.py wrote %v (%v), want %d shards", files, err, shards)
	}
	return out, files
}

// checked is check_gguf.py's verdict on one tensor.
type checked struct {
	Shape  []int64 `json:"shape"`
	Type   string  `json:"type"`
	OK     bool    `json:"ok"`
	Detail string  `json:"detail"`
	DeqSHA string  `json:"deq_sha256"`
}

// checkWithPython runs testdata/check_gguf.py on the output.
func checkWithPython(t *testing.T, py, out string, sources []string) (map[string]checked, map[string]string) {
	t.Helper()
	b := pyenv.Output(t, py, append([]string{filepath.Join("testdata", "check_gguf.py"), out}, sources...)...)
	var res struct {
		Tensors map[string]checked `json:"tensors"`
		Fields  map[string]string  `json:"fields"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("check_gguf.py printed %q: %v", b, err)
	}
	return res.Tensors, res.Fields
}

// readGGUF reads a GGUF file with this package's own reader and returns
// its header, data offset and bytes.
func readGGUF(t *testing.T, path string) (*gguf.File, int64, []byte) {
	t.Helper()
	raw, err := storage.ReadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	f, start, err := gguf.Read(bytes.NewReader(raw), int64(len(raw)), path)
	if err != nil {
		t.Fatal(err)
	}
	return f, start, raw
}

// dequantizedSHA is the SHA-256 of tensor ti's values, as this package's
// decoder gives them, as little-endian float32.
func dequantizedSHA(t *testing.T, ti gguf.TensorInfo, data []byte) string {
	t.Helper()
	n, _ := ti.Bytes()
	x := make([]float32, ti.Elements())
	if err := gguf.Decode(ti.Type, x, data[ti.Offset:ti.Offset+n], 2); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, x)
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

func run(t *testing.T, c Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatalf("Run(%+v): %v", c, err)
	}
	return rep
}

// TestGGUFWithReferenceClients quantizes checkpoints of each source dtype
// and layout (one file; a directory of shards with an index; the index
// file itself) and checks the output with gguf-py: every tensor there
// with its shape and type; Q8_0/Q4_0/Q5_0 bytes equal to gguf.quants.quantize
// of the source; Q4_K dequantized by gguf.quants.dequantize to the values
// our decoder gives; pass-through and fallback tensors exact; the
// metadata records the source and the recipe. Chunks of 1 MiB cut the
// large tensors into several parts, and the file is the same byte for
// byte as with one chunk per tensor.
func TestGGUFWithReferenceClients(t *testing.T) {
	py := pyenv.Need(t, "gguf", "numpy", "safetensors")
	for _, tt := range []struct {
		dtype  string
		shards int
		quant  string
		index  bool // pass the index file rather than the directory
	}{
		{"f32", 1, "q8_0", false},
		{"f16", 3, "q4_0", false},
		{"bf16", 2, "q4_k", true},
		{"f32", 1, "q4_k", false},
	} {
		t.Run(tt.dtype+"-"+tt.quant, func(t *testing.T) {
			ckpt, files := generate(t, py, tt.dtype, tt.shards, 12)
			if tt.index {
				ckpt = filepath.Join(ckpt, IndexFile)
			}
			out := t.TempDir()
			rep := run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: out, Quant: tt.quant, ChunkMB: 1})
			path := filepath.Join(out, GGUFFile)
			got, fields := checkWithPython(t, py, path, files)
			if len(got) != len(rep.Tensors) {
				t.Errorf("gguf-py reads %d tensors, the report has %d", len(got), len(rep.Tensors))
			}
			f, start, raw := readGGUF(t, path)
			types := map[string]int{}
			for i, tr := range rep.Tensors {
				c, ok := got[tr.Name]
				if !ok {
					t.Errorf("%s: not in the GGUF file", tr.Name)
					continue
				}
				if !c.OK || c.Type != tr.Type || !slices.Equal(c.Shape, tr.Shape) {
					t.Errorf("%s: gguf-py says %+v; report: %s %v", tr.Name, c, tr.Type, tr.Shape)
				}
				if c.Type == "Q4_K" {
					if mine := dequantizedSHA(t, f.Tensors[i], raw[start:]); mine != c.DeqSHA {
						t.Errorf("%s: gguf.quants.dequantize gives values with SHA-256 %s, ours %s", tr.Name, c.DeqSHA, mine)
					}
				}
				types[tr.Type]++
			}
			wantType := strings.ToUpper(tt.quant)
			if types[wantType] < 10 || types["F32"] == 0 || types["I64"] != 1 {
				t.Errorf("types %v: want many %s, the 1-D norms in F32 and the position ids as I64", types, wantType)
			}
			fallback := map[string]string{"q8_0": "F16", "q4_0": "F16", "q4_k": "Q5_0"}[tt.quant]
			if tt.dtype == "bf16" && fallback == "F16" {
				fallback = "BF16"
			}
			if types[fallback] == 0 {
				t.Errorf("types %v: want the 100-wide projection in %s", types, fallback)
			}
			if fields["lightbeam.source"] != ckpt || !strings.Contains(fields["lightbeam.recipe"], `"quant":"`+tt.quant+`"`) {
				t.Errorf("metadata %v does not record source %s and quant %s", fields, ckpt, tt.quant)
			}
			if rep.Chunks <= len(rep.Tensors) {
				t.Errorf("%d chunks for %d tensors: 1 MiB chunks should cut the large ones", rep.Chunks, len(rep.Tensors))
			}
			if rep.BytesOut != int64(len(raw)) || rep.Ratio < 1.5 || rep.SQNRdB == nil || rep.PeakRSSBytes == 0 {
				t.Errorf("report: bytes_out %d (file %d), ratio %.2f, sqnr %v, peak RSS %d", rep.BytesOut, len(raw), rep.Ratio, rep.SQNRdB, rep.PeakRSSBytes)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 2 {
				t.Errorf("%s holds %d entries, want model.gguf and report.json only (parts removed)", out, len(entries))
			}

			whole := t.TempDir()
			run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: whole, Quant: tt.quant, ChunkMB: 64})
			if _, _, raw64 := readGGUF(t, filepath.Join(whole, GGUFFile)); !bytes.Equal(raw64, raw) {
				t.Errorf("1 MiB chunks and 64 MiB chunks give different files")
			}
		})
	}
}

// TestQ4KBeatsQ4_0 compares the two 4-bit formats on the same heavy-tailed
// weights, tensor by tensor.
func TestQ4KBeatsQ4_0(t *testing.T) {
	py := pyenv.Need(t, "numpy", "safetensors")
	ckpt, _ := generate(t, py, "f32", 1, 4)
	k := run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: t.TempDir(), Quant: "q4_k"})
	z := run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: t.TempDir(), Quant: "q4_0"})
	n := 0
	for i, tk := range k.Tensors {
		if tk.Type != "Q4_K" {
			continue
		}
		n++
		tz := z.Tensors[i]
		if tz.Type != "Q4_0" || *tk.SQNRdB <= *tz.SQNRdB {
			t.Errorf("%s: Q4_K %.2f dB, %s %.2f dB", tk.Name, *tk.SQNRdB, tz.Type, *tz.SQNRdB)
		}
	}
	if n == 0 || *k.SQNRdB <= *z.SQNRdB {
		t.Errorf("%d Q4_K tensors; overall Q4_K %.2f dB vs Q4_0 %.2f dB", n, *k.SQNRdB, *z.SQNRdB)
	}
	t.Logf("SQNR over the quantized tensors: Q4_K %.2f dB, Q4_0 %.2f dB", *k.SQNRdB, *z.SQNRdB)
}

// TestGCS reads the checkpoint from gs:// and writes the output there
// (assembled by object composition): the tensors' bytes equal the local
// run's.
func TestGCS(t *testing.T) {
	py := pyenv.Need(t, "numpy", "safetensors")
	ctx := context.Background()
	root := gcstest.Root(t)
	ckpt, files := generate(t, py, "f16", 2, 3)
	for _, f := range append(files, filepath.Join(ckpt, IndexFile)) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.WriteBytes(ctx, storage.Join(root, "ckpt", filepath.Base(f)), b); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	run(t, Config{Checkpoint: ckpt, Arch: "raw", Out: local, Quant: "q8_0", ChunkMB: 1})
	remote := storage.Join(root, "out")
	run(t, Config{Checkpoint: storage.Join(root, "ckpt"), Arch: "raw", Out: remote, Quant: "q8_0", ChunkMB: 1})
	_, ls, lraw := readGGUF(t, filepath.Join(local, GGUFFile))
	_, rs, rraw := readGGUF(t, storage.Join(remote, GGUFFile))
	if !bytes.Equal(lraw[ls:], rraw[rs:]) {
		t.Errorf("the gs:// output's data (%d bytes) differs from the local one's (%d)", len(rraw)-int(rs), len(lraw)-int(ls))
	}
	left, err := storage.List(ctx, storage.Join(remote, partsDir, "*"))
	if err != nil || len(left) != 0 {
		t.Errorf("parts left in %s: %v (%v)", remote, left, err)
	}
}

// writeSafetensors writes tensors as an F32 safetensors file in dir.
func writeSafetensors(t *testing.T, dir, name string, ts ...model.Tensor) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := model.WriteSafetensors(p, ts, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	nan := ones(4 * 64)
	nan[3*64+5] = float32(math.NaN())
	huge := ones(2 * 50)
	huge[7] = 1e6
	good := writeSafetensors(t, dir, "good.safetensors", model.Tensor{Name: "w", Shape: []int{4, 64}, Data: ones(256)})
	raw, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.safetensors")
	os.WriteFile(truncated, raw[:len(raw)-10], 0o644)
	badIndex := filepath.Join(dir, "bad.index.json")
	os.WriteFile(badIndex, []byte(`{"weight_map": {"w": "good.safetensors", "missing": "good.safetensors"}}`), 0o644)
	escape := filepath.Join(dir, "escape.index.json")
	os.WriteFile(escape, []byte(`{"weight_map": {"w": "../good.safetensors"}}`), 0o644)
	finished := t.TempDir()
	run(t, Config{Checkpoint: good, Out: finished, Quant: "q8_0"})

	for _, tt := range []struct {
		name string
		c    Config
		want []string
	}{
		{"NaN", Config{Checkpoint: writeSafetensors(t, dir, "nan.safetensors", model.Tensor{Name: "layer.w", Shape: []int{4, 64}, Data: nan}), Quant: "q4_0"},
			[]string{`tensor "layer.w"`, "NaN"}},
		{"beyond F16", Config{Checkpoint: writeSafetensors(t, dir, "huge.safetensors", model.Tensor{Name: "proj", Shape: []int{2, 50}, Data: huge}), Quant: "q8_0"},
			[]string{`tensor "proj"`, "value 7", "does not fit in F16"}},
		{"truncated", Config{Checkpoint: truncated, Quant: "q8_0"}, []string{truncated, "data bytes"}},
		{"index names a missing tensor", Config{Checkpoint: badIndex, Quant: "q8_0"}, []string{`"missing"`, "does not hold it"}},
		{"index leaves its directory", Config{Checkpoint: escape, Quant: "q8_0"}, []string{`"../good.safetensors"`, "not a file beside the index"}},
		{"no checkpoint there", Config{Checkpoint: t.TempDir(), Quant: "q8_0"}, []string{"no model.safetensors.index.json"}},
		{"quant", Config{Checkpoint: good, Quant: "int8"}, []string{"--quant=int8", "q8_0, q4_0, q4_k"}},
		{"format", Config{Checkpoint: good, Quant: "q8_0", Format: "onnx"}, []string{"--format=onnx"}},
		{"finished", Config{Checkpoint: good, Out: finished, Quant: "q8_0"}, []string{"--overwrite"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c.Out == "" {
				c.Out = t.TempDir()
			}
			_, err := Run(context.Background(), c, io.Discard)
			if err == nil {
				t.Fatalf("Run: no error, want one with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.name != "finished" {
				if _, serr := os.Stat(filepath.Join(c.Out, GGUFFile)); serr == nil {
					t.Errorf("a failed run left %s", GGUFFile)
				}
			}
		})
	}
}

func TestChooseType(t *testing.T) {
	ht := func(dtype string, shape ...int) model.HeaderTensor {
		return model.HeaderTensor{Name: "t", DType: dtype, Shape: shape}
	}
	for _, tt := range []struct {
		t       model.HeaderTensor
		q       gguf.Type
		quant1D bool
		want    gguf.Type
		err     bool
	}{
		{ht("F32", 64, 256), gguf.Q4_K, false, gguf.Q4_K, false},
		{ht("F32", 64, 96), gguf.Q4_K, false, gguf.Q5_0, false},
		{ht("F16", 64, 100), gguf.Q4_K, false, gguf.F16, false},
		{ht("BF16", 64, 100), gguf.Q8_0, false, gguf.BF16, false},
		{ht("F16", 64), gguf.Q8_0, false, gguf.F32, false},
		{ht("F32", 64), gguf.Q8_0, true, gguf.Q8_0, false},
		{ht("F32"), gguf.Q8_0, false, gguf.F32, false},
		{ht("I64", 1, 64), gguf.Q8_0, false, gguf.I64, false},
		{ht("F64", 4, 64), gguf.Q8_0, false, gguf.F64, false},
		{ht("U8", 4, 64), gguf.Q8_0, false, 0, true},
		{ht("BOOL", 4), gguf.Q8_0, false, 0, true},
	} {
		got, _, err := gguf.Choose(tt.t.Name, tt.t.DType, tt.t.Shape, tt.q, tt.quant1D)
		if (err != nil) != tt.err || err == nil && got != tt.want {
			t.Errorf("Choose(%s %v, %v, %v) = %v, %v; want %v (error %v)", tt.t.DType, tt.t.Shape, tt.q, tt.quant1D, got, err, tt.want, tt.err)
		}
	}
}
