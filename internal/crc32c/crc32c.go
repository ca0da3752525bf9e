// Package crc32c combines CRC-32C (Castagnoli) checksums of adjacent byte
// ranges without the bytes: storage checks a GCS composition with it, and
// the checkpoint job joins the CRCs of an artifact's parts.
package crc32c

// Combine returns the CRC32C of a‖b from crcA = CRC32C(a),
// crcB = CRC32C(b) and the length of b, without the bytes. GCS gives a
// composite object the CRC32C of its sources joined, so this checks a
// composition without reading it; parts written apart join into one
// file's CRC.
//
// CRCs are polynomials over GF(2) (bit-reflected here, as hash/crc32
// keeps them); appending n bytes multiplies the register by x^(8n)
// modulo the CRC polynomial P, and the pre- and post-conditioning of a
// CRC cancel in the sum:
//
//	CRC(a‖b) = CRC(a)·x^(8·len(b)) mod P  ⊕  CRC(b)
func Combine(crcA, crcB uint32, lenB int64) uint32 {
	return mulModP(xPow8n(lenB), crcA) ^ crcB
}

// castagnoli is the CRC32C polynomial, bit-reflected.
const castagnoli = 0x82f63b78

// mulModP returns a·b mod P, for reflected polynomials (bit 31 is x⁰).
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ castagnoli
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8n returns x^(8n) mod P by squaring: x^(2^k) for the set bits of 8n.
func xPow8n(n int64) uint32 {
	p := uint32(1) << 31  // x⁰
	sq := uint32(1) << 23 // x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = mulModP(sq, p)
		}
		sq = mulModP(sq, sq)
	}
	return p
}
