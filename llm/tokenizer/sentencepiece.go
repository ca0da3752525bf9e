package tokenizer

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// piece is one SentencePiece of a ModelProto.
type piece struct {
	piece string
	score float32
	typ   int32
}

// parseSentencePiece reads the pieces of a serialized sentencepiece
// ModelProto (sentencepiece_model.proto):
//
//	ModelProto    { repeated SentencePiece pieces = 1; ... }
//	SentencePiece { string piece = 1; float score = 2; Type type = 3 [default = NORMAL]; }
//
// Other fields are skipped. path names the file in errors.
func parseSentencePiece(b []byte, path string) ([]piece, error) {
	fail := func(format string, a ...any) ([]piece, error) {
		return nil, fmt.Errorf("tokenizer: %s: not a SentencePiece model: "+format, append([]any{path}, a...)...)
	}
	var out []piece
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fail("bad field tag at byte %d: %v", len(b), protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fail("piece %d: %v", len(out), protowire.ParseError(n))
			}
			p, err := parsePiece(msg)
			if err != nil {
				return fail("piece %d: %v", len(out), err)
			}
			out = append(out, p)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fail("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if len(out) == 0 {
		return fail("no pieces")
	}
	return out, nil
}

func parsePiece(b []byte) (piece, error) {
	p := piece{typ: Normal}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return p, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			s, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			p.piece, b = string(s), b[n:]
		case num == 2 && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			p.score, b = math.Float32frombits(v), b[n:]
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			if v < 1 || v > 6 {
				return p, fmt.Errorf("piece type %d", v)
			}
			p.typ, b = int32(v), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return p, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return p, nil
}
