package entropy

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestStreamRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	skewed := make([]uint8, 4000)
	for i := range skewed {
		skewed[i] = uint8(min(31, int(rng.ExpFloat64()*4)))
	}
	uniform := make([]uint8, 999)
	for i := range uniform {
		uniform[i] = uint8(rng.IntN(8))
	}
	tests := []struct {
		name  string
		sym   []uint8
		width int
		codec Codec
	}{
		{"empty", nil, 5, Raw},
		{"one", []uint8{3}, 2, Raw},
		{"uniform 3-bit", uniform, 3, Raw},
		{"skewed 5-bit", skewed, 5, FSE},
		{"constant 8-bit", slices.Repeat([]uint8{200}, 1000), 8, Huffman},
		{"tiny skewed", []uint8{0, 0, 0, 0, 0, 0, 0, 1}, 8, Huffman},
	}
	for _, tt := range tests {
		enc := EncodeStream(tt.sym, tt.width)
		if Codec(enc[0]) != tt.codec {
			t.Errorf("%s: chose %v (%d bytes), want %v", tt.name, Codec(enc[0]), len(enc), tt.codec)
		}
		got, err := DecodeStream(enc, len(tt.sym), tt.width)
		if err != nil || !slices.Equal(got, tt.sym) && len(tt.sym) > 0 {
			t.Fatalf("%s: round trip: %v", tt.name, err)
		}
		if _, err := DecodeStream(enc[:len(enc)-1], len(tt.sym), tt.width); err == nil && len(enc) > 1 {
			t.Errorf("%s: truncated stream accepted", tt.name)
		}
	}
	wide := EncodeStream([]uint8{7, 0, 7, 7}, 3)
	if _, err := DecodeStream(wide, 4, 2); err == nil {
		t.Error("symbols wider than the width accepted")
	}
	if _, err := DecodeStream([]byte{9, 0}, 1, 8); err == nil {
		t.Error("unknown codec accepted")
	}
}

func TestGaps(t *testing.T) {
	tests := []struct {
		pos  []int32
		w    int
		want []uint8
	}{
		{nil, 4, []uint8{}},
		{[]int32{0, 1, 2}, 2, []uint8{0, 0, 0}},
		{[]int32{3}, 2, []uint8{3, 0}},          // skip 3, entry at 3
		{[]int32{2, 9}, 2, []uint8{2, 3, 3, 0}}, // 6 zeros before 9: skip 3, skip 3, entry
		{[]int32{14}, 4, []uint8{14}},
		{[]int32{15}, 4, []uint8{15, 0}},
	}
	for _, tt := range tests {
		got := EncodeGaps(tt.pos, tt.w)
		if !slices.Equal(got, tt.want) {
			t.Errorf("EncodeGaps(%v, %d) = %v, want %v", tt.pos, tt.w, got, tt.want)
		}
		back, err := DecodeGaps(got, tt.w, 16)
		if err != nil || !slices.Equal(back, tt.pos) && len(tt.pos) > 0 {
			t.Errorf("DecodeGaps(%v) = %v, %v", got, back, err)
		}
	}
	for _, bad := range []struct {
		sym []uint8
		w   int
		n   int
	}{
		{[]uint8{3}, 2, 3},    // trailing skip
		{[]uint8{2, 0}, 2, 3}, // position 3 not below 3
		{[]uint8{4}, 2, 10},   // symbol too wide
		{[]uint8{0}, 9, 10},   // width
	} {
		if _, err := DecodeGaps(bad.sym, bad.w, bad.n); err == nil {
			t.Errorf("DecodeGaps(%v, %d, %d) accepted", bad.sym, bad.w, bad.n)
		}
	}
}

func FuzzDecodeStream(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	sk := make([]uint8, 300)
	for i := range sk {
		sk[i] = uint8(min(15, int(rng.ExpFloat64()*2)))
	}
	f.Add(EncodeStream(sk, 4), len(sk), 4)
	f.Add(EncodeStream([]uint8{1, 2, 3}, 2), 3, 2)
	f.Add(EncodeStream(slices.Repeat([]uint8{5}, 50), 8), 50, 8)
	f.Fuzz(func(t *testing.T, data []byte, n, width int) {
		out, err := DecodeStream(data, n%(1<<16), width)
		if err == nil && len(out) != n%(1<<16) {
			t.Fatalf("decoded %d symbols, asked %d", len(out), n)
		}
	})
}
