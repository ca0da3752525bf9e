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
