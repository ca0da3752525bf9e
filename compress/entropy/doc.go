// Package entropy codes the small-alphabet symbol streams of a compressed
// model (k-means codes, int8 and 4-bit codes, relative sparse indices) so
// they take close to their order-0 entropy. It is plain Go with no Beam
// imports; compress/artifact calls it for every stream it stores.
//
// EncodeStream tries each Codec on a stream and keeps the smallest, writing
// a one-byte codec id first, so the reader needs only the symbol count and
// width:
//
//	Raw      fixed-width bit-packing, the fallback for incompressible data
//	Huffman  this package's canonical Huffman code, lengths limited to 15
//	         bits by package-merge, with a 4-bit-per-symbol length table
//	FSE      klauspost/compress/fse (tANS); usually the smallest, since
//	         it is not bound to whole bits per symbol
//
// MEASURED.md holds the sizes we saw on realistic streams. Sparse positions
// become symbols with EncodeGaps (relative indices in w-bit fields, the
// largest field value meaning "skip") and come back with DecodeGaps.
//
// Decoders take untrusted bytes: they return errors for anything corrupt,
// never panic, and allocate at most MaxRatio output symbols per input byte.
package entropy
