package entropy

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/fse"
)

// Codec names how a symbol stream is coded; it is the first byte of an
// EncodeStream result.
type Codec uint8

const (
	// Raw packs each symbol in width bits, most significant bit first,
	// zero-padded to a byte.
	Raw Codec = 0
	// Huffman is this package's canonical Huffman code (Encode).
	Huffman Codec = 1
	// FSE is klauspost/compress/fse (tANS), whose fractional code lengths
	// beat Huffman on skewed streams.
	FSE Codec = 2
)

func (c Codec) String() string {
	switch c {
	case Raw:
		return "raw"
	case Huffman:
		return "huffman"
	case FSE:
		return "fse"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// MaxRatio bounds the symbols per byte a stream may decode to, which
// bounds a decoder's allocation on hostile input. Huffman and Raw cannot
// exceed 8; EncodeStream uses FSE only within this ratio.
const MaxRatio = 64

// EncodeStream codes symbols (each below 2^width, 1 ≤ width ≤ 8) with
// every codec and returns the smallest: one Codec byte, then its payload.
// The symbol count is not stored; the reader must know it. It panics if
// width is out of range or a symbol does not fit.
func EncodeStream(symbols []uint8, width int) []byte {
	if width < 1 || width > 8 {
		panic(fmt.Sprintf("entropy.EncodeStream: width %d", width))
	}
	for i, s := range symbols {
		if int(s) >= 1<<width {
			panic(fmt.Sprintf("entropy.EncodeStream: symbol %d at %d does not fit %d bits", s, i, width))
		}
	}
	best := append([]byte{byte(Raw)}, packRaw(symbols, width)...)
	if h := Encode(symbols); 1+len(h) < len(best) {
		best = append([]byte{byte(Huffman)}, h...)
	}
	if f, err := fse.Compress(symbols, nil); err == nil && 1+len(f) < len(best) && len(symbols) <= MaxRatio*(1+len(f)) {
		best = append([]byte{byte(FSE)}, f...)
	}
	return best
}

// DecodeStream reads n symbols of width bits written by EncodeStream.
// Unknown codecs, corrupt payloads and symbols wider than width are
// errors; allocation is bounded by n ≤ MaxRatio·len(data) (8·len(data)
// for Raw and Huffman).
func DecodeStream(data []byte, n, width int) ([]uint8, error) {
	if width < 1 || width > 8 {
		return nil, fmt.Errorf("entropy: stream width %d outside [1, 8]", width)
	}
	if len(data) == 0 {
		return nil, errors.New("entropy: empty stream (no codec byte)")
	}
	limit := 8 * len(data)
	if Codec(data[0]) == FSE {
		limit = MaxRatio * len(data)
	}
	if n < 0 || n > limit {
		return nil, fmt.Errorf("entropy: %d symbols cannot fit a %d-byte %v stream", n, len(data), Codec(data[0]))
	}
	var out []uint8
	var err error
	switch c, payload := Codec(data[0]), data[1:]; c {
	case Raw:
		out, err = unpackRaw(payload, n, width)
	case Huffman:
		out, err = Decode(payload, n)
	case FSE:
		out, err = decodeFSE(payload, n)
	default:
		return nil, fmt.Errorf("entropy: unknown codec %d", c)
	}
	if err != nil {
		return nil, err
	}
	for i, s := range out {
		if int(s) >= 1<<width {
			return nil, fmt.Errorf("entropy: symbol %d at %d does not fit %d bits", s, i, width)
		}
	}
	return out, nil
}

func decodeFSE(payload []byte, n int) ([]uint8, error) {
	if n < 2 {
		return nil, fmt.Errorf("entropy: fse stream of %d symbols", n) // fse.Compress refuses these
	}
	s := &fse.Scratch{DecompressLimit: n}
	out, err := fse.Decompress(payload, s)
	if err != nil {
		return nil, fmt.Errorf("entropy: fse: %w", err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("entropy: fse stream holds %d symbols, want %d", len(out), n)
	}
	return out, nil
}

func packRaw(symbols []uint8, width int) []byte {
	out := make([]byte, (len(symbols)*width+7)/8)
	pos := 0
	for _, s := range symbols {
		for b := width - 1; b >= 0; b-- {
			out[pos>>3] |= (s >> b & 1) << (7 - pos&7)
			pos++
		}
	}
	return out
}

func unpackRaw(data []byte, n, width int) ([]uint8, error) {
	if len(data) != (n*width+7)/8 {
		return nil, fmt.Errorf("entropy: raw stream of %d bytes for %d symbols of %d bits", len(data), n, width)
	}
	out := make([]uint8, n)
	pos := 0
	for i := range out {
		var s uint8
		for range width {
			s = s<<1 | data[pos>>3]>>(7-pos&7)&1
			pos++
		}
		out[i] = s
	}
	if pos&7 != 0 && data[len(data)-1]<<(pos&7) != 0 {
		return nil, errors.New("entropy: raw stream padding bits are not zero")
	}
	return out, nil
}
