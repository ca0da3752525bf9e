// Package formatstest makes small input files for tests of the parsers
// and the pipelines that use them.
package formatstest

import "encoding/binary"

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
