package formats

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // image.Decode reads JPEG
	_ "image/png"  // and PNG
)

// ImageShape reads the header of a PNG or JPEG image and returns its
// height, width and channels (1 for a gray image, else 3), without decoding
// the pixels.
func ImageShape(b []byte) ([]int, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	c := 3
	if cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model {
		c = 1
	}
	return []int{cfg.Height, cfg.Width, c}, nil
}

// decodeImage decodes a PNG or JPEG image of the given shape into dst
// (H×W×C values 0..255, row-major, channels last) and returns "" or a
// reject reason. The header is checked first, so an image whose size
// differs from the shape (a decompression bomb among them) is refused
// before any pixel is decoded. A color image in a gray column is
// converted to gray, a gray one in a color column repeated over RGB.
func decodeImage(b []byte, shape []int, dst []float32) (reason string) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "not a PNG or JPEG image: " + err.Error()
	}
	h, w, c := shape[0], shape[1], shape[2]
	if cfg.Height != h || cfg.Width != w {
		return fmt.Sprintf("image of %d×%d pixels, want %d×%d", cfg.Height, cfg.Width, h, w)
	}
	defer func() {
		// The standard decoders are fuzzed, but a panic on one hostile
		// image must not take the worker down.
		if r := recover(); r != nil {
			reason = fmt.Sprintf("decoding the image: panic: %v", r)
		}
	}()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return "decoding the image: " + err.Error()
	}
	r := img.Bounds()
	if r.Dy() != h || r.Dx() != w {
		return fmt.Sprintf("image decodes to %d×%d pixels, want %d×%d", r.Dy(), r.Dx(), h, w)
	}
	if g, ok := img.(*image.Gray); ok && c == 1 {
		for y := 0; y < h; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			out := dst[y*w : (y+1)*w]
			for x, p := range row {
				out[x] = float32(p)
			}
		}
		return ""
	}
	k := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			px := img.At(x, y)
			if c == 1 {
				dst[k] = float32(color.GrayModel.Convert(px).(color.Gray).Y)
				k++
				continue
			}
			cr, cg, cb, _ := px.RGBA()
			dst[k], dst[k+1], dst[k+2] = float32(cr>>8), float32(cg>>8), float32(cb>>8)
			k += 3
		}
	}
	return ""
}
