// This file holds the TFRecord reader: the record framing with its masked
// CRC-32C checks, and a small tf.Example decoder on protowire (no
// generated code), whose features map to columns by a CSVSchema.

package formats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's checksum: CRC-32C rotated right by 15 bits plus
// a constant, so that a CRC of data holding CRCs stays well spread.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// MaxTFRecordBytes bounds one record: a length beyond it is taken for
// corruption rather than allocated.
const MaxTFRecordBytes = 256 << 20

// tfRecordReader reads the records of a TFRecord stream:
//
//	uint64 length, uint32 masked CRC of the length, data, uint32 masked CRC of the data
//
// all little-endian.
type tfRecordReader struct {
	r     io.Reader
	n     int64 // records read
	off   int64 // byte offset of the next record
	buf   []byte
	crcOK bool // the last record's data CRC matched
}

// next returns the next record's data (valid until the next call), or
// io.EOF at a clean end. A truncated record, a length whose CRC does not
// match or an absurd length is an error: the framing is lost. A data CRC
// that does not match is reported by crcOK, the framing being intact.
func (tr *tfRecordReader) next() ([]byte, error) {
	var h [12]byte
	k, err := io.ReadFull(tr.r, h[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("record %d (byte %d): truncated header (%d of 12 bytes)", tr.n, tr.off, k)
		}
		return nil, fmt.Errorf("record %d (byte %d): %w", tr.n, tr.off, err)
	}
	n := binary.LittleEndian.Uint64(h[:8])
	if maskedCRC(h[:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return nil, fmt.Errorf("record %d (byte %d): length CRC mismatch (not a TFRecord file, or corrupt)", tr.n, tr.off)
	}
	if n > MaxTFRecordBytes {
		return nil, fmt.Errorf("record %d (byte %d): length %d exceeds %d bytes", tr.n, tr.off, n, MaxTFRecordBytes)
	}
	// Grow the buffer as the data arrives, so that a lying length in a
	// short file allocates no more than the file holds.
	tr.buf = tr.buf[:0]
	for rem := int(n) + 4; rem > 0; {
		step := min(rem, 1<<20)
		at := len(tr.buf)
		tr.buf = append(tr.buf, make([]byte, step)...)
		if k, err := io.ReadFull(tr.r, tr.buf[at:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("record %d (byte %d): truncated: %d bytes of data and CRC, want %d", tr.n, tr.off, at+k, n+4)
			}
			return nil, fmt.Errorf("record %d (byte %d): %w", tr.n, tr.off, err)
		}
		rem -= step
	}
	data := tr.buf[:n]
	tr.crcOK = maskedCRC(data) == binary.LittleEndian.Uint32(tr.buf[n:])
	tr.n++
	tr.off += 16 + int64(n)
	return data, nil
}

// tfFeature is one feature of a tf.Example: exactly one of its lists is
// set (kind says which).
type tfFeature struct {
	kind   int // 1 bytes_list, 2 float_list, 3 int64_list
	bytes  [][]byte
	floats []float32
	ints   []int64
}

var tfKinds = [...]string{1: "bytes_list", 2: "float_list", 3: "int64_list"}

// tfExample decodes tf.Example protos, reusing its space from one record
// to the next.
type tfExample struct {
	names []string // in record order; aliasing the record's data
	feats []tfFeature
}

// decode parses data as a tf.Example:
//
//	Example { Features features = 1; }
//	Features { map<string, Feature> feature = 1; }
//	Feature { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
//	BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
//	Int64List { repeated int64 value = 1 [packed]; }
//
// Unknown fields are skipped; packed and unpacked lists are both read.
func (ex *tfExample) decode(data []byte) error {
	ex.names = ex.names[:0]
	ex.feats = ex.feats[:0]
	return eachField(data, "Example", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, "Features", func(num protowire.Number, typ protowire.Type, entry []byte, _ uint64) error {
			if num != 1 || typ != protowire.BytesType {
				return nil
			}
			var name []byte
			var feat tfFeature
			err := eachField(entry, "feature map entry", func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					name = v
				case num == 2 && typ == protowire.BytesType:
					feat = ex.feature(len(ex.feats))
					return decodeFeature(v, &feat)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, n := range ex.names {
				if n == string(name) {
					return fmt.Errorf("feature %q given twice", name)
				}
			}
			ex.names = append(ex.names, string(name))
			ex.feats = append(ex.feats, feat)
			return nil
		})
	})
}

// feature returns a cleared feature reusing the slices of ex.feats[i].
func (ex *tfExample) feature(i int) tfFeature {
	if i < cap(ex.feats) {
		f := ex.feats[:cap(ex.feats)][i]
		return tfFeature{bytes: f.bytes[:0], floats: f.floats[:0], ints: f.ints[:0]}
	}
	return tfFeature{}
}

func decodeFeature(b []byte, f *tfFeature) error {
	return eachField(b, "Feature", func(num protowire.Number, typ protowire.Type, list []byte, _ uint64) error {
		if num < 1 || num > 3 || typ != protowire.BytesType {
			return nil
		}
		if f.kind != 0 && f.kind != int(num) {
			return fmt.Errorf("a Feature holding both %s and %s", tfKinds[f.kind], tfKinds[num])
		}
		f.kind = int(num)
		return eachField(list, tfKinds[num], func(vnum protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			if vnum != 1 {
				return nil
			}
			switch {
			case num == 1 && typ == protowire.BytesType:
				f.bytes = append(f.bytes, v)
			case num == 2 && typ == protowire.Fixed32Type:
				f.floats = append(f.floats, math.Float32frombits(uint32(x)))
			case num == 2 && typ == protowire.BytesType: // packed
				if len(v)%4 != 0 {
					return fmt.Errorf("packed float_list of %d bytes", len(v))
				}
				for k := 0; k < len(v); k += 4 {
					f.floats = append(f.floats, math.Float32frombits(binary.LittleEndian.Uint32(v[k:])))
				}
			case num == 3 && typ == protowire.VarintType:
				f.ints = append(f.ints, int64(x))
			case num == 3 && typ == protowire.BytesType: // packed
				for len(v) > 0 {
					u, k := protowire.ConsumeVarint(v)
					if k < 0 {
						return fmt.Errorf("packed int64_list: %w", protowire.ParseError(k))
					}
					f.ints = append(f.ints, int64(u))
					v = v[k:]
				}
			default:
				return fmt.Errorf("%s value of wire type %d", tfKinds[num], typ)
			}
			return nil
		})
	})
}

// eachField calls fn for each field of the message b: its number, wire
// type, and its bytes (length-delimited) or value (varint, fixed).
func eachField(b []byte, what string, fn func(protowire.Number, protowire.Type, []byte, uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return fmt.Errorf("%s: %w", what, protowire.ParseError(k))
		}
		b = b[k:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, k = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, k = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, k = protowire.ConsumeFixed64(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return fmt.Errorf("%s: field %d: %w", what, num, protowire.ParseError(k))
		}
		b = b[k:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// ScanTFRecordFields reads the first maxRecords records (0 for all) of a
// TFRecord stream and returns the features of their tf.Examples, sorted by
// name: a list of one value is a scalar, a longer one an array (Width from
// the first record holding it), and a bytes_list holding a PNG or JPEG
// image an image field (Shape from its header). It fails on a broken
// framing, or when no record holds a feature; records that do not decode
// are skipped (ParseTFRecord rejects them).
func ScanTFRecordFields(r io.Reader, name string, maxRecords int) ([]RecordField, error) {
	tr := &tfRecordReader{r: r}
	var ex tfExample
	index := map[string]int{}
	var fields []RecordField
	for maxRecords <= 0 || tr.n < int64(maxRecords) {
		data, err := tr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !tr.crcOK || ex.decode(data) != nil {
			continue
		}
		for k, n := range ex.names {
			f := RecordField{Name: n}
			switch feat := &ex.feats[k]; feat.kind {
			case 1:
				if len(feat.bytes) == 1 {
					if shape, err := ImageShape(feat.bytes[0]); err == nil {
						f.Shape = shape
					}
				}
			case 2:
				if len(feat.floats) > 1 {
					f.Width = len(feat.floats)
				}
			case 3:
				if len(feat.ints) > 1 {
					f.Width = len(feat.ints)
				}
			}
			if i, ok := index[n]; !ok {
				index[n] = len(fields)
				fields = append(fields, f)
			} else if fields[i].Width == 0 && fields[i].Shape == nil {
				fields[i].Width, fields[i].Shape = f.Width, f.Shape
			}
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: no tf.Example with features in the first %d records", name, tr.n)
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	return fields, nil
}

// ScanTFRecordCategories counts the values of the categorical columns of
// schema in a TFRecord stream as ScanCategories does for CSV: a single
// bytes value as it is, a single number as its text. Records that do not
// decode are not counted; it fails when the framing is lost.
func ScanTFRecordCategories(r io.Reader, name string, schema *CSVSchema) (map[string]map[string]int64, error) {
	cc := newCategoryCounter(schema)
	if len(cc.vocab) == 0 {
		return cc.vocab, nil
	}
	tr := &tfRecordReader{r: r}
	var ex tfExample
	var num []byte
	for {
		data, err := tr.next()
		if err == io.EOF {
			return cc.vocab, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !tr.crcOK || ex.decode(data) != nil {
			continue
		}
		for k, n := range ex.names {
			if !cc.wants(n) {
				continue
			}
			switch f := &ex.feats[k]; {
			case len(f.bytes) == 1:
				cc.add(n, f.bytes[0])
			case len(f.ints) == 1:
				num = strconv.AppendInt(num[:0], f.ints[0], 10)
				cc.add(n, num)
			case len(f.floats) == 1:
				num = floatText(num[:0], f.floats[0])
				cc.add(n, num)
			}
		}
	}
}

// ParseTFRecord parses the records of a TFRecord stream (gunzipped by the
// caller when needed), each a serialized tf.Example, into dense blocks of
// schema.Features columns. Row IDs are rows.RecordID(name, record), the
// record's 0-based index in the file.
//
// A feature that is a column of the schema gives its value: a float_list
// or int64_list of one value for a numeric column or the label, of Width
// values for a vector column (NaN is missing); a bytes_list of one value
// for an image column (a PNG or JPEG of the column's shape), or for
// another column its text (a number, a category, a class name). An absent
// feature is missing. Features the schema does not name are ignored.
// Rejected: a record whose data CRC does not match or that is not a
// tf.Example, and values that do not fit their column. A truncated record
// or a corrupt length is an error naming the record and its byte offset:
// the records after it cannot be found.
//
// rowsRead counts records, rejected or not.
func ParseTFRecord(r io.Reader, name string, schema *CSVSchema, blockRows int, emit Emit, reject func(Reject)) (rowsRead int64, err error) {
	p, bw, err := startRecords(name, schema, false, blockRows, emit)
	if err != nil {
		return 0, err
	}
	tr := &tfRecordReader{r: r}
	var ex tfExample
	for {
		data, err := tr.next()
		if err == io.EOF {
			return rowsRead, bw.flush()
		}
		if err != nil {
			return rowsRead, fmt.Errorf("%s: %w", name, err)
		}
		rec := tr.n - 1
		rowsRead++
		reason := ""
		switch {
		case !tr.crcOK:
			reason = "data CRC mismatch (corrupt record)"
		default:
			if err := ex.decode(data); err != nil {
				reason = "not a tf.Example: " + err.Error()
			} else {
				reason = p.setExample(&ex)
			}
		}
		if reason != "" {
			if reject != nil {
				reject(Reject{File: name, Record: rec, Reason: reason})
			}
			continue
		}
		bw.blk.AppendDense(rows.RecordID(name, rec), p.lab, p.row)
		if err := bw.full(); err != nil {
			return rowsRead, err
		}
	}
}

// setExample fills the row from a decoded tf.Example.
func (p *recordParser) setExample(ex *tfExample) string {
	p.begin()
	for k, n := range ex.names {
		i, ok := p.cols[n]
		if !ok {
			continue
		}
		p.set[i] = true
		var reason string
		switch f := &ex.feats[k]; {
		case len(f.bytes)+len(f.floats)+len(f.ints) == 0:
			reason = p.setMissing(i) // TensorFlow writes an empty list for a missing value
		case f.kind == 1:
			if len(f.bytes) != 1 {
				reason = p.where(i) + fmt.Sprintf("bytes_list of %d values, want 1", len(f.bytes))
			} else {
				reason = p.setBytes(i, f.bytes[0])
			}
		case f.kind == 2:
			reason = p.setFloats(i, f.floats)
		default:
			if len(f.ints) == 1 && p.s.Columns[i].Kind != KindVector && p.s.Columns[i].Kind != KindNumeric {
				// A label or category: its exact integer text.
				p.num = strconv.AppendInt(p.num[:0], f.ints[0], 10)
				reason = p.setText(i, p.num)
				break
			}
			p.floats = p.floats[:0]
			for _, v := range f.ints {
				p.floats = append(p.floats, float32(v))
			}
			reason = p.setFloats(i, p.floats)
		}
		if reason != "" {
			return reason
		}
	}
	return p.end()
}
