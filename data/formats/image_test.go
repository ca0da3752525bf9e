package formats

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"reflect"
	"strings"
	"testing"
)

// PNG and JPEG, gray and color, into gray and color columns: the pixels
// the standard decoders give, channels last.
func TestDecodeImage(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 5, 4))
	rgb := image.NewRGBA(image.Rect(0, 0, 5, 4))
	for y := range 4 {
		for x := range 5 {
			gray.SetGray(x, y, color.Gray{uint8(40*y + 9*x)})
			rgb.Set(x, y, color.RGBA{uint8(50 * y), uint8(40 * x), 200, 255})
		}
	}
	enc := func(img image.Image, format string) []byte {
		var buf bytes.Buffer
		if format == "png" {
			png.Encode(&buf, img)
		} else {
			jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
		}
		return buf.Bytes()
	}
	// want returns the pixels of the decoded image (JPEG is lossy).
	want := func(b []byte, c int) []float32 {
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var out []float32
		for y := range 4 {
			for x := range 5 {
				if c == 1 {
					out = append(out, float32(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y))
					continue
				}
				r, g, bl, _ := img.At(x, y).RGBA()
				out = append(out, float32(r>>8), float32(g>>8), float32(bl>>8))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		img   image.Image
		shape []int // as ImageShape gives it
	}{
		{"png", gray, []int{4, 5, 1}},
		{"png", rgb, []int{4, 5, 3}},
		{"jpeg", gray, []int{4, 5, 1}},
		{"jpeg", rgb, []int{4, 5, 3}},
	} {
		b := enc(tc.img, tc.name)
		shape, err := ImageShape(b)
		if err != nil || !reflect.DeepEqual(shape, tc.shape) {
			t.Errorf("%s %v: shape %v, %v; want %v", tc.name, tc.shape, shape, err, tc.shape)
			continue
		}
		for _, c := range []int{1, 3} {
			dst := make([]float32, 20*c)
			if reason := decodeImage(b, []int{4, 5, c}, dst); reason != "" || !reflect.DeepEqual(dst, want(b, c)) {
				t.Errorf("%s %v into %d channels: %q, %v, want %v", tc.name, tc.shape, c, reason, dst, want(b, c))
			}
		}
		if tc.name == "png" && tc.shape[2] == 1 && !reflect.DeepEqual(want(b, 1)[:5], []float32{0, 9, 18, 27, 36}) {
			t.Errorf("gray PNG row 0: %v", want(b, 1)[:5])
		}
	}
	// A JPEG whose header claims another size, cut short.
	b := enc(rgb, "jpeg")
	if reason := decodeImage(b[:len(b)-20], []int{4, 5, 3}, make([]float32, 60)); !strings.HasPrefix(reason, "decoding the image: ") {
		t.Errorf("truncated JPEG: %q", reason)
	}
	if reason := decodeImage(b, []int{5, 4, 3}, make([]float32, 60)); reason != "image of 4×5 pixels, want 5×4" {
		t.Errorf("JPEG of another size: %q", reason)
	}
}
