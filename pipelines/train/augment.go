package train

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
)

// Augment moves each training row that is an image by a few pixels
// before its gradient is taken: a translation (dx, dy), each drawn
// uniformly from −Shift..Shift by a hash of the row's identity, the epoch
// and the run's seed, so that, like dropout, it is the same in any batch,
// shard, runner or backend. Validation and test rows are never moved.
//
// The rows hold scaled features (the manifest's Scale), so a row is
// unscaled, moved and scaled again: a pixel keeps its own scale. Pixels
// moved in from outside the image are 0 before scaling. Under minmax
// scaling the result is clamped to [0, 1], the training range: a pixel
// that is nearly always blank (a tiny span) would otherwise get values in
// the hundreds from its neighbour's ink.
type Augment struct {
	Shift int
	// Image is the rows' image shape: height, width, channels
	// (manifest schema.image).
	Image  [3]int
	Offset []float32 // the manifest's scale; empty for "none"
	Factor []float32
	Clamp  bool // minmax: clamp to [0, 1]
}

// augmentSalt keeps the translations apart from the dropout masks and the
// row order.
const augmentSalt = 0x6175676d656e7421 // "augment!"

// ParseAugment reads --augment: "" (none) or "shift:N", N ≥ 1 pixels.
func ParseAugment(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, ok := strings.CutPrefix(s, "shift:")
	v, err := strconv.Atoi(n)
	if !ok || err != nil || v < 1 || v > 8 {
		return 0, fmt.Errorf("--augment=%q: want shift:N, N from 1 to 8 pixels", s)
	}
	return v, nil
}

// newAugment returns the augmentation of shift pixels for the data of m,
// nil when shift is 0. The manifest must record its rows as images
// (ReadManifest has checked that the shape fits the features, and that
// the scale has one offset and factor per feature).
func newAugment(shift int, m *shardio.Manifest, data string) (*Augment, error) {
	if shift == 0 {
		return nil, nil
	}
	im := m.Schema.Image
	if len(im) == 0 {
		return nil, fmt.Errorf("--augment=shift:%d moves images, but %s does not record its rows as images (manifest schema.image); preprocess IDX files, or Parquet/TFRecord with one image feature, with this version", shift, data)
	}
	return &Augment{Shift: shift, Image: [3]int(im), Offset: float32s(m.Scale.Offset), Factor: float32s(m.Scale.Factor), Clamp: m.Scale.Method == "minmax"}, nil
}

// apply translates the row x in place by the draw of hash h, using tmp
// (len(x)) as scratch.
func (a *Augment) apply(x, tmp []float32, h uint64) {
	dx, dy := a.draw(h)
	a.move(x, tmp, dx, dy)
}

// draw returns the translation of hash h: dx and dy uniform in
// −Shift..Shift, from its low and high 32 bits.
func (a *Augment) draw(h uint64) (dx, dy int) {
	span := uint64(2*a.Shift + 1)
	return int((h&0xffffffff)%span) - a.Shift, int((h>>32)%span) - a.Shift
}

// move translates the image x in place by dx columns right and dy rows
// down, using tmp (len(x)) as scratch.
func (a *Augment) move(x, tmp []float32, dx, dy int) {
	if dx == 0 && dy == 0 {
		return
	}
	raw := tmp[:len(x)]
	for j, v := range x {
		if a.Factor != nil {
			v = v/a.Factor[j] + a.Offset[j]
		}
		raw[j] = v
	}
	hgt, wid, ch := a.Image[0], a.Image[1], a.Image[2]
	for y := range hgt {
		for xx := range wid {
			sy, sx := y-dy, xx-dx
			in := sy >= 0 && sy < hgt && sx >= 0 && sx < wid
			for c := range ch {
				j := (y*wid+xx)*ch + c
				var v float32
				if in {
					v = raw[(sy*wid+sx)*ch+c]
				}
				if a.Factor != nil {
					v = (v - a.Offset[j]) * a.Factor[j]
				}
				if a.Clamp {
					v = min(max(v, 0), 1)
				}
				x[j] = v
			}
		}
	}
}

func float32s(v []float64) []float32 {
	if len(v) == 0 {
		return nil
	}
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}
