package train

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
)

// A move shifts the unscaled pixels, scales each by its own map, fills
// with blank pixels and, under minmax, clamps to [0, 1].
func TestAugmentMove(t *testing.T) {
	// A 2×3 image of one channel, minmax factors that
	// differ per pixel (pixel 5's span is tiny: it was nearly blank).
	a := &Augment{Shift: 1, Image: [3]int{2, 3, 1}, Clamp: true,
		Offset: []float32{0, 0, 0, 0, 0, 1},
		Factor: []float32{1. / 8, 1. / 8, 1. / 8, 1. / 8, 1. / 8, 1. / 2}}
	raw := []float32{1, 2, 3, 4, 5, 2}
	scaled := func(r []float32) []float32 {
		out := make([]float32, len(r))
		for j, v := range r {
			out[j] = min(max((v-a.Offset[j])*a.Factor[j], 0), 1)
		}
		return out
	}
	for _, tc := range []struct {
		dx, dy int
		want   []float32 // raw, after the move
	}{
		{0, 0, []float32{1, 2, 3, 4, 5, 2}},
		{1, 0, []float32{0, 1, 2, 0, 4, 5}},
		{-1, 0, []float32{2, 3, 0, 5, 2, 0}},
		{0, 1, []float32{0, 0, 0, 1, 2, 3}},
		{-1, -1, []float32{5, 2, 0, 0, 0, 0}},
	} {
		x := scaled(raw)
		a.move(x, make([]float32, len(x)), tc.dx, tc.dy)
		if want := scaled(tc.want); !slices.EqualFunc(x, want, func(p, q float32) bool { return abs32(p-q) < 1e-6 }) {
			t.Errorf("move(%d, %d) = %v, want %v", tc.dx, tc.dy, x, want)
		}
	}
	// Pixel 5 clamps: raw 5 moved in scales to (5−1)/2 = 2 before the
	// clamp; without it the value stays.
	x := scaled(raw)
	a.move(x, make([]float32, 6), 1, 0)
	if x[5] != 1 {
		t.Errorf("clamped pixel = %v, want 1", x[5])
	}
	a.Clamp = false
	x = scaled(raw)
	a.move(x, make([]float32, 6), 1, 0)
	if x[5] != 2 {
		t.Errorf("unclamped pixel = %v, want 2", x[5])
	}
}

func abs32(v float32) float32 { return max(v, -v) }

// The draws cover −Shift..Shift in both directions, about uniformly.
func TestAugmentDraw(t *testing.T) {
	a := &Augment{Shift: 2}
	count := map[[2]int]int{}
	for i := range uint64(25000) {
		dx, dy := a.draw(rowHash(i, 3, 7^augmentSalt))
		count[[2]int{dx, dy}]++
	}
	if len(count) != 25 {
		t.Fatalf("%d distinct moves, want 25: %v", len(count), count)
	}
	for m, n := range count {
		if n < 800 || n > 1200 {
			t.Errorf("move %v drawn %d times of 25000, want about 1000", m, n)
		}
	}
}

// imagesPrepared preprocesses 600 IDX images of 6×6 pixels, three
// classes (a horizontal bar, a vertical bar, a dot) at random places.
func imagesPrepared(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	const n, side = 600, 6
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 3)
	}
	pixel := func(i, j int) byte {
		y, x := j/side, j%side
		r, c := (i*7)%side, (i*11)%side
		switch labels[i] {
		case 0:
			if y == r {
				return 200
			}
		case 1:
			if x == c {
				return 200
			}
		default:
			if y == r && x == c {
				return 255
			}
		}
		return byte(i % 5)
	}
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"train-images-idx3-ubyte": formatstest.IDXImages(n, side, side, pixel),
		"train-labels-idx1-ubyte": formatstest.IDXLabels(labels...),
		"t10k-images-idx3-ubyte":  formatstest.IDXImages(n/3, side, side, pixel),
		"t10k-labels-idx1-ubyte":  formatstest.IDXLabels(labels[:n/3]...),
	} {
		if err := os.WriteFile(filepath.Join(in, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "prep")
	if _, err := preprocess.Run(context.Background(), preprocess.Config{Format: "idx", Input: in, Out: out, Shards: 3}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Augmented training keeps Beam and the plain loop bit for bit equal in
// both modes, and changes the model; data that are not images are refused
// before training.
func TestAugmentBeamMatchesPlain(t *testing.T) {
	data := imagesPrepared(t)
	for _, mode := range []string{"sync", "local"} {
		t.Run(mode, func(t *testing.T) {
			c := Config{Data: data, Out: t.TempDir(), Model: "mlp", Hidden: []int{8}, Epochs: 2, Batch: 32, LocalBatch: 16, Accel: "go", Mode: mode, Augment: "shift:1"}
			_, got := beamEqualsPlain(t, c)
			none := c
			none.Out, none.Plain, none.Augment = t.TempDir(), true, ""
			run(t, none)
			if d := maxDiff(got, params(t, none.Out, 2)); d == 0 {
				t.Errorf("the augmented model equals the plain one")
			}
		})
	}
	c := baseConfig(t, 4)
	c.Augment = "shift:1"
	_, err := Run(context.Background(), c, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "schema.image") {
		t.Errorf("augmenting rows that are not images: %v, want an error naming schema.image", err)
	}
	c.Augment = "shift:9"
	if _, err := Run(context.Background(), c, os.Stderr); err == nil || !strings.Contains(err.Error(), "shift:N, N from 1 to 8") {
		t.Errorf("--augment=shift:9: %v", err)
	}
}
