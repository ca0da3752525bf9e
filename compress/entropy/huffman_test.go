package entropy

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHuffmanRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	geometric := make([]uint8, 5000)
	for i := range geometric {
		geometric[i] = uint8(min(255, int(rng.ExpFloat64()*3)))
	}
	uniform := make([]uint8, 3000)
	for i := range uniform {
		uniform[i] = uint8(rng.IntN(256))
	}
	fib := []uint8{} // Fibonacci frequencies force lengths past MaxCodeLen without limiting
	a, b := 1, 1
	for s := range 25 {
		fib = append(fib, slices.Repeat([]uint8{uint8(s)}, a)...)
		a, b = b, a+b
	}
	tests := []struct {
		name    string
		symbols []uint8
	}{
		{"empty", nil},
		{"one symbol", []uint8{42}},
		{"one distinct symbol", slices.Repeat([]uint8{3}, 100)},
		{"two symbols", []uint8{0, 1, 1, 1, 0, 1}},
		{"symbol 255", []uint8{255, 0, 255}},
		{"geometric", geometric},
		{"uniform bytes", uniform},
		{"fibonacci", fib},
	}
	for _, tt := range tests {
		enc := Encode(tt.symbols)
		got, err := Decode(enc, len(tt.symbols))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(got, tt.symbols) && len(tt.symbols) > 0 {
			t.Fatalf("%s: round trip differs", tt.name)
		}
		if len(enc) > 0 {
			if _, err := Decode(enc[:len(enc)-1], len(tt.symbols)); err == nil {
				t.Errorf("%s: truncated stream accepted", tt.name)
			}
			if _, err := Decode(append(slices.Clone(enc), 0), len(tt.symbols)); err == nil {
				t.Errorf("%s: trailing byte accepted", tt.name)
			}
		}
	}
}

// TestCodeLengths checks package-merge against known optimal codes and
// the limit: lengths obey Kraft with equality, never exceed the limit,
// and cost no more than any other valid limited code we can name.
func TestCodeLengths(t *testing.T) {
	tests := []struct {
		freq   []int
		maxLen int
		want   []uint8
	}{
		{[]int{1, 1}, 15, []uint8{1, 1}},
		{[]int{5, 0, 1, 1}, 15, []uint8{1, 0, 2, 2}},
		{[]int{1, 1, 2, 4, 8}, 15, []uint8{4, 4, 3, 2, 1}},
		{[]int{1, 1, 2, 4, 8}, 3, []uint8{3, 3, 3, 3, 1}},
		{[]int{1, 1, 1, 1}, 2, []uint8{2, 2, 2, 2}},
	}
	for _, tt := range tests {
		if got := codeLengths(tt.freq, tt.maxLen); !slices.Equal(got, tt.want) {
			t.Errorf("codeLengths(%v, %d) = %v, want %v", tt.freq, tt.maxLen, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for trial := range 200 {
		freq := make([]int, 1+rng.IntN(256))
		for i := range freq {
			if rng.IntN(3) > 0 {
				freq[i] = int(math.Exp(rng.Float64() * 20)) // huge dynamic range
			}
		}
		lens := codeLengths(freq, MaxCodeLen)
		kraft, used := 0.0, 0
		for s, l := range lens {
			if (freq[s] > 0) != (l > 0) || l > MaxCodeLen {
				t.Fatalf("trial %d: symbol %d freq %d length %d", trial, s, freq[s], l)
			}
			if l > 0 {
				kraft += math.Ldexp(1, -int(l))
				used++
			}
		}
		if used > 1 && kraft != 1 {
			t.Fatalf("trial %d: Kraft sum %g", trial, kraft)
		}
	}
}

func TestDecodeRejectsBadTables(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		n    int
	}{
		{"no table", []byte{0}, 1},
		{"oversubscribed", []byte{2, 0x11, 0x01, 0xff}, 3}, // three codes of length 1
		{"incomplete", []byte{2, 0x21, 0x00, 0xff}, 2},     // lengths 1, 2
		{"all unused", []byte{1, 0x00, 0xff}, 1},
		{"length past last symbol", []byte{0, 0x11, 0x00}, 1},
		{"too many symbols for the bytes", []byte{0, 0x01, 0x00}, 9},
		{"negative count", []byte{0, 0x01, 0x00}, -1},
		{"bytes for zero symbols", []byte{0}, 0},
		{"nonzero padding", []byte{0, 0x01, 0x01}, 1},
	}
	for _, tt := range tests {
		if _, err := Decode(tt.data, tt.n); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func FuzzHuffmanDecode(f *testing.F) {
	f.Add(Encode([]uint8{1, 2, 3, 3, 3, 0}), 6)
	f.Add(Encode(slices.Repeat([]uint8{9}, 20)), 20)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		n %= 1 << 16
		out, err := Decode(data, n)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to something that decodes the same.
		again, err := Decode(Encode(out), n)
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("re-encoding %d decoded symbols: %v", n, err)
		}
	})
}
