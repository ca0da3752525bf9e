// Package formatstest makes small input files for tests of the parsers
// and the pipelines that use them.
package formatstest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

// IDXImages returns an IDX image file (magic 0x803) of n images of h×w
// pixels, pixel j of image i being pixel(i, j).
func IDXImages(n, h, w int, pixel func(i, j int) byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x803)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, uint32(h))
	b = binary.BigEndian.AppendUint32(b, uint32(w))
	for i := range n {
		for j := range h * w {
			b = append(b, pixel(i, j))
		}
	}
	return b
}

// IDXLabels returns an IDX label file (magic 0x801) holding labels.
func IDXLabels(labels ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x801)
	b = binary.BigEndian.AppendUint32(b, uint32(len(labels)))
	return append(b, labels...)
}

// Diagonal is a pixel function: byte(i+j).
func Diagonal(i, j int) byte { return byte(i + j) }

// BlobsCSV returns a CSV file of n rows in three Gaussian classes, for
// tests that preprocess, train and compress: a header f0,…,f(d−1),label,
// then rows of a class c drawn uniformly and d features, feature j drawn
// from N(sep·[j mod 3 = c] + shift·j, 1) and written with 4 decimals. rng
// makes every draw, in row order.
func BlobsCSV(rng *rand.Rand, n, d int, sep, shift float64) []byte {
	var b strings.Builder
	for j := range d {
		fmt.Fprintf(&b, "f%d,", j)
	}
	b.WriteString("label\n")
	for range n {
		c := rng.IntN(3)
		for j := range d {
			center := 0.0
			if j%3 == c {
				center = sep
			}
			v := center + rng.NormFloat64()
			if shift != 0 {
				v += shift * float64(j)
			}
			fmt.Fprintf(&b, "%.4f,", v)
		}
		fmt.Fprintf(&b, "%d\n", c)
	}
	return []byte(b.String())
}
