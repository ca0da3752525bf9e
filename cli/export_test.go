package cli

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/export/convert"
	"github.com/lightbeam-ml/lightbeam/export/onnx/onnxtest"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
)

// mnistSubset writes the first nTrain training and nTest test images of
// the bundled MNIST (with their labels) into dir as the four MNIST files,
// and returns the test images' pixels and labels.
func mnistSubset(t *testing.T, dir string, nTrain, nTest int) (testPixels [][]byte, testLabels []byte) {
	t.Helper()
	src := os.Getenv("LIGHTBEAM_MNIST")
	if src == "" {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mnistModule).Output()
		if err != nil {
			t.Fatalf("locating the bundled MNIST (go list -m %s): %v; set LIGHTBEAM_MNIST", mnistModule, err)
		}
		src = filepath.Join(strings.TrimSpace(string(out)), "data")
	}
	read := func(name string, header, n, size int) [][]byte {
		f, err := os.Open(filepath.Join(src, name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		buf := make([]byte, header+n*size)
		if _, err := io.ReadFull(zr, buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recs := make([][]byte, n)
		for i := range recs {
			recs[i] = buf[header+i*size : header+(i+1)*size]
		}
		return recs
	}
	write := func(prefix string, n int) ([][]byte, []byte) {
		images := read(prefix+"-images-idx3-ubyte", 16, n, 28*28)
		var labels []byte
		for _, l := range read(prefix+"-labels-idx1-ubyte", 8, n, 1) {
			labels = append(labels, l[0])
		}
		img := formatstest.IDXImages(n, 28, 28, func(i, j int) byte { return images[i][j] })
		if err := os.WriteFile(filepath.Join(dir, prefix+"-images-idx3-ubyte"), img, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, prefix+"-labels-idx1-ubyte"), formatstest.IDXLabels(labels...), 0o644); err != nil {
			t.Fatal(err)
		}
		return images, labels
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write("train", nTrain)
	return write("t10k", nTest)
}

// testSplit returns the test split of a preprocess output of mnistSubset's
// files: the scaled rows as preprocess stored them and, for the same rows
// in the same order, the raw pixels (0..255 as float32) and the labels.
func testSplit(t *testing.T, prep string, pixels [][]byte) (scaled, raw, labels []float32) {
	t.Helper()
	ctx := context.Background()
	man, err := shardio.ReadManifest(ctx, prep)
	if err != nil {
		t.Fatal(err)
	}
	record := map[uint64]int{}
	for i := range pixels {
		record[rows.RecordID("t10k-images-idx3-ubyte", int64(i))] = i
	}
	sr, err := shardio.OpenSplit(ctx, prep, man, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for {
		b, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for r, id := range b.IDs {
			i, ok := record[id]
			if !ok {
				t.Fatalf("test row %d has no record in the test images", r)
			}
			for _, p := range pixels[i] {
				raw = append(raw, float32(p))
			}
		}
		scaled = append(scaled, b.DenseValues...)
		labels = append(labels, b.Labels...)
	}
	if len(labels) != len(pixels) {
		t.Fatalf("the test split holds %d rows, the test images %d", len(labels), len(pixels))
	}
	return scaled, raw, labels
}

// The acceptance test of lightbeam export --format=onnx on real data: a
// subset of the bundled MNIST, preprocessed (minmax scale) and trained
// (MLP 784-32-10) by the CLI, compressed to a sparse int8 artifact; both
// exported to ONNX, checked by onnx's full checker and run by ONNX Runtime
// (BASIC optimization) on raw pixels 0..255 give lightbeam's
// probabilities within 1e-5 and lightbeam evaluate's test accuracy within
// 0.01 point (one row in 10,000).
func TestExportONNXMNIST(t *testing.T) {
	py := onnxtest.Python(t)
	ctx := context.Background()
	root := t.TempDir()
	mnist, prep, trained, compressed := filepath.Join(root, "mnist"), filepath.Join(root, "prep"), filepath.Join(root, "train"), filepath.Join(root, "compress")
	pixels, _ := mnistSubset(t, mnist, 20000, 10000)
	for _, args := range [][]string{
		{"preprocess", "--format=idx", "--input=" + mnist, "--out=" + prep, "--shards=2"},
		{"train", "--data=" + prep, "--out=" + trained, "--model=mlp", "--hidden=32", "--mode=local", "--epochs=5", "--plain", "--accel=go"},
		{"compress", "--model=" + trained, "--data=" + prep, "--out=" + compressed, "--quant=int8", "--sparsity=0.6", "--plain", "--accel=go"},
	} {
		if err := run(args); err != nil {
			t.Fatalf("lightbeam %s: %v", args[0], err)
		}
	}
	scaled, raw, labels := testSplit(t, prep, pixels)
	n, d := len(labels), 28*28
	be := accel.NewGo()
	defer be.Close()

	for _, tt := range []struct {
		name, model, data string
		int8              bool
	}{
		// The model file records its scale; the artifact's is read from
		// the manifest (which must agree with the scale it carries).
		{"float model", filepath.Join(trained, "model.safetensors"), "", false},
		{"int8 artifact", filepath.Join(compressed, "model.lbc"), prep, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(root, strings.ReplaceAll(tt.name, " ", "-")+".onnx")
			line, err := convert.Write(ctx, convert.Config{Model: tt.model, Format: "onnx", Out: out, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(line)
			if st, err := os.Stat(out); err != nil || !strings.Contains(line, out) || !strings.Contains(line, "opset 13") ||
				tt.int8 != strings.Contains(line, "int8 + DequantizeLinear: fc1.weight, fc2.weight") || !strings.Contains(line, "scale minmax") {
				t.Errorf("summary %q (file: %v)", line, err)
			} else if !strings.Contains(line, " "+strconv.FormatInt(st.Size(), 10)+" bytes") {
				t.Errorf("summary %q, the file has %d bytes", line, st.Size())
			}

			got, info := onnxtest.Run(t, py, out, raw, n, d)
			m, params, _, err := train.ReadModel(ctx, tt.model)
			if err != nil {
				t.Fatal(err)
			}
			ws := model.NewWorkspace(m, be)
			defer ws.Close()
			want := make([]float32, n*m.Outputs())
			if err := ws.Predict(params, model.DenseBatch(scaled, nil, n), want); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("onnxruntime gave %d values, lightbeam %d", len(got), len(want))
			}
			worst := 0.0
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			correct := 0
			k := m.Outputs()
			for i := range n {
				if argmax(got[i*k:(i+1)*k]) == int(labels[i]) {
					correct++
				}
			}
			acc := float64(correct) / float64(n)
			ev, err := train.EvaluateSplit(ctx, train.EvalConfig{Model: tt.model, Data: prep, Split: "test", Accel: "go", Plain: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: ops %v; max |p_onnx − p_lightbeam| = %.3g; test accuracy onnxruntime %.4f%%, lightbeam evaluate %.4f%% (%d rows)",
				tt.name, info.Ops, worst, 100*acc, 100*ev.Accuracy, n)
			if worst > 1e-5 {
				t.Errorf("max probability difference %.3g, want ≤ 1e-5", worst)
			}
			if math.Abs(acc-ev.Accuracy) > 1e-4 || ev.Examples != int64(n) {
				t.Errorf("accuracy: onnxruntime %.4f on %d rows, lightbeam evaluate %.4f on %d", acc, n, ev.Accuracy, ev.Examples)
			}
			if ev.Accuracy < 0.8 {
				t.Errorf("test accuracy %.4f: the model did not train", ev.Accuracy)
			}
		})
	}
}

func argmax(v []float32) int {
	best := 0
	for j := range v {
		if v[j] > v[best] {
			best = j
		}
	}
	return best
}
