package forward

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/llm/llmtest"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize/quantizetest"
)

// TestDir reads model directories as checkpoints: the same
// hyper-parameters, vocabulary, tensors (Q/K rows permuted for Llama and
// Mistral, F16 and BF16 sources widened) and logits as the F32 GGUF that
// compress --checkpoint writes from them.
func TestDir(t *testing.T) {
	ctx := context.Background()
	be, err := accel.Open("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"llama3", "mistral", "qwen3"} {
		t.Run(kind, func(t *testing.T) {
			dir := llmtest.Dir(t, kind)
			if ok, err := IsDir(ctx, dir); err != nil || !ok {
				t.Fatalf("IsDir(%s) = %v, %v", dir, ok, err)
			}
			h, err := Header(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Load(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Load(ctx, quantizetest.GGUF(t, kind, "f32"))
			if err != nil {
				t.Fatal(err)
			}
			h.FreqScale = want.FreqScale // read with the data
			if !reflect.DeepEqual(got.Hyper, want.Hyper) || !reflect.DeepEqual(h.Hyper, want.Hyper) {
				t.Fatalf("hyper-parameters %+v (header %+v), the GGUF's %+v", got.Hyper, h.Hyper, want.Hyper)
			}
			if len(got.tensors) != len(want.tensors) {
				t.Fatalf("%d tensors, the GGUF has %d", len(got.tensors), len(want.tensors))
			}
			for name, w := range want.tensors {
				g := got.tensors[name]
				if g == nil || !slices.Equal(g.shape, w.shape) || !bytes.Equal(g.data, w.data) {
					t.Fatalf("tensor %s differs from the GGUF's", name)
				}
			}
			enc, err := got.Encoder()
			if err != nil {
				t.Fatal(err)
			}
			tokens := enc.Encode("The quick brown fox jumps over the lazy dog, again and again.", true, false)
			var logits [2][]float32
			for i, m := range []*Model{got, want} {
				r, err := NewRunner(m, be, len(tokens))
				if err != nil {
					t.Fatal(err)
				}
				if logits[i], err = r.Logits(tokens, 0); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(logits[0], logits[1]) {
				t.Fatal("the directory's logits differ from its F32 GGUF's")
			}
		})
	}
}
