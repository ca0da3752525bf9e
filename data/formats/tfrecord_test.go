package formats

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/internal/pyenv"
)

// tfrecordFixture returns the file scripts/fixtures/tfrecord_fixture.py
// writes (n records; opts "gzip", "unpacked").
func tfrecordFixture(t testing.TB, n string, opts ...string) []byte {
	t.Helper()
	py := pyenv.Need(t, "zlib", "gzip")
	out := filepath.Join(t.TempDir(), "f.tfrecord")
	args := append([]string{filepath.Join("..", "..", "scripts", "fixtures", "tfrecord_fixture.py"), out, n}, opts...)
	if b, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tfSchema lays out the features ScanTFRecordFields finds in data.
func tfSchema(t testing.TB, data []byte, opts CSVOptions) *CSVSchema {
	t.Helper()
	fields, err := ScanTFRecordFields(bytes.NewReader(data), "f.tfrecord", 0)
	if err != nil {
		t.Fatal(err)
	}
	return fieldSchema(t, fields, opts)
}

func parseTF(t testing.TB, data []byte, s *CSVSchema) (*rows.Block, []Reject, int64, error) {
	t.Helper()
	var blocks []*rows.Block
	var rejects []Reject
	n, err := ParseTFRecord(bytes.NewReader(data), "f.tfrecord", s, 3, collect(t, &blocks), func(r Reject) { rejects = append(rejects, r) })
	return mergeBlocks(s.Features, blocks), rejects, n, err
}

// wantTFRow is record i of tfrecord_fixture.py in the layout count,
// image (4×5 gray), label, v, x.
func wantTFRow(i int) []float32 {
	row := []float32{float32(i % 7)}
	for r := 0; r < 4; r++ {
		for c := 0; c < 5; c++ {
			row = append(row, float32((3*i+5*r+7*c)%256))
		}
	}
	return append(row, float32(i), float32(-i), float32(float64(i)/8), float32(float64(i)/4-3))
}

// A file written by a TFRecord writer that is not ours (Python, the
// published framing, tf.Example bytes built by hand) parses to its values,
// packed or not, gzipped or not.
func TestParseTFRecordPython(t *testing.T) {
	plain := tfrecordFixture(t, "50")
	for name, data := range map[string][]byte{"packed": plain, "unpacked": tfrecordFixture(t, "50", "unpacked"), "gzip": tfrecordFixture(t, "50", "gzip")} {
		t.Run(name, func(t *testing.T) {
			r, err := OpenMaybeGzip(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			var raw bytes.Buffer
			raw.ReadFrom(r)
			s := tfSchema(t, raw.Bytes(), CSVOptions{})
			if s.Features != 25 || s.LabelName() != "label" || s.FeatureNames()[1] != "image[0]" || s.FeatureNames()[24] != "x" {
				t.Fatalf("schema: %d features %v, label %q", s.Features, s.FeatureNames(), s.LabelName())
			}
			blk, rejects, n, err := parseTF(t, raw.Bytes(), s)
			if err != nil || n != 50 || len(rejects) != 0 || blk.Rows() != 50 {
				t.Fatalf("err %v, read %d, rejects %v, rows %d", err, n, rejects, blk.Rows())
			}
			for i := range 50 {
				if got := blk.DenseValues[i*25 : i*25+25]; !reflect.DeepEqual(got, wantTFRow(i)) || blk.Labels[i] != float32(i%4) || blk.IDs[i] != rows.RecordID("f.tfrecord", int64(i)) {
					t.Fatalf("record %d: %v label %v, want %v label %d", i, got, blk.Labels[i], wantTFRow(i), i%4)
				}
			}
		})
	}
	if bytes.Equal(plain, tfrecordFixture(t, "50", "unpacked")) {
		t.Error("unpacked lists wrote the same bytes as packed ones")
	}
}

// tfFrame frames data as one TFRecord record.
func tfFrame(data []byte) []byte {
	var h [12]byte
	binary.LittleEndian.PutUint64(h[:], uint64(len(data)))
	binary.LittleEndian.PutUint32(h[8:], maskedCRC(h[:8]))
	out := append(h[:], data...)
	return binary.LittleEndian.AppendUint32(out, maskedCRC(data))
}

// tfExampleBytes builds a tf.Example of named features, each a []float32,
// []int64 or [][]byte.
func tfExampleBytes(features map[string]any) []byte {
	var entries []byte
	for _, name := range sortedKeys(features) {
		var list []byte
		num := protowire.Number(0)
		switch v := features[name].(type) {
		case []float32:
			num = 2
			var packed []byte
			for _, f := range v {
				packed = protowire.AppendFixed32(packed, math.Float32bits(f))
			}
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, packed)
		case []int64:
			num = 3
			var packed []byte
			for _, x := range v {
				packed = protowire.AppendVarint(packed, uint64(x))
			}
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, packed)
		case [][]byte:
			num = 1
			for _, b := range v {
				list = protowire.AppendTag(list, 1, protowire.BytesType)
				list = protowire.AppendBytes(list, b)
			}
		}
		var feat []byte
		feat = protowire.AppendTag(feat, num, protowire.BytesType)
		feat = protowire.AppendBytes(feat, list)
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, name)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, feat)
		entries = protowire.AppendTag(entries, 1, protowire.BytesType)
		entries = protowire.AppendBytes(entries, entry)
	}
	var ex []byte
	ex = protowire.AppendTag(ex, 1, protowire.BytesType)
	return protowire.AppendBytes(ex, entries)
}

func sortedKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// pngHeader is the signature and IHDR chunk of a w×h 8-bit gray PNG: what
// DecodeConfig reads, whatever follows.
func pngHeader(w, h uint32) []byte {
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// Corrupt and hostile records: a reject with a reason where the framing
// holds, an error naming the record and its offset where it does not;
// never a panic or a huge allocation.
func TestParseTFRecordCorrupt(t *testing.T) {
	good := func(i int) []byte {
		return tfFrame(tfExampleBytes(map[string]any{"x": []float32{float32(i)}, "v": []float32{1, 2}, "label": []int64{int64(i % 2)}}))
	}
	var base []byte
	for i := range 3 {
		base = append(base, good(i)...)
	}
	s := tfSchema(t, base, CSVOptions{})
	recLen := len(good(0))
	flip := bytes.Clone(base)
	flip[recLen+14] ^= 0x40 // in record 1's data
	for _, tc := range []struct {
		name   string
		data   []byte
		reject string // of record 1
	}{
		{"data crc", flip, "data CRC mismatch (corrupt record)"},
		{"not an example", append(append(good(0), tfFrame([]byte{0x0a, 0xff})...), good(2)...), "not a tf.Example: Example: field 1: unexpected EOF"},
		{"wrong length", append(append(good(0), tfFrame(tfExampleBytes(map[string]any{"x": []float32{1}, "v": []float32{1, 2, 3}, "label": []int64{1}}))...), good(2)...), `field "v": 3 values, want 2`},
		{"missing label", append(append(good(0), tfFrame(tfExampleBytes(map[string]any{"x": []float32{1}, "v": []float32{1, 2}}))...), good(2)...), `field "label": missing label`},
		{"nan", append(append(good(0), tfFrame(tfExampleBytes(map[string]any{"x": []float32{float32(math.Inf(1))}, "v": []float32{1, 2}, "label": []int64{0}}))...), good(2)...), `field "x": infinite value`},
		{"bytes for a number", append(append(good(0), tfFrame(tfExampleBytes(map[string]any{"x": [][]byte{[]byte("abc")}, "v": []float32{1, 2}, "label": []int64{0}}))...), good(2)...), `field "x": not a number: "abc"`},
		{"label out of range", append(append(good(0), tfFrame(tfExampleBytes(map[string]any{"x": []float32{1}, "v": []float32{1, 2}, "label": []int64{-3}}))...), good(2)...), `field "label": label "-3" is not a class in 0..999`},
	} {
		_, rejects, n, err := parseTF(t, tc.data, s)
		if err != nil || n != 3 || len(rejects) != 1 || rejects[0] != (Reject{"f.tfrecord", 1, tc.reject}) {
			t.Errorf("%s: err %v, %d read, rejects %v; want record 1: %s", tc.name, err, n, rejects, tc.reject)
		}
	}

	huge := tfFrame(nil)[:12]
	binary.LittleEndian.PutUint64(huge, 1<<40)
	binary.LittleEndian.PutUint32(huge[8:], maskedCRC(huge[:8]))
	lying := bytes.Clone(huge)
	binary.LittleEndian.PutUint64(lying, 200<<20) // 200 MB promised, none there
	binary.LittleEndian.PutUint32(lying[8:], maskedCRC(lying[:8]))
	badLen := bytes.Clone(good(1))
	badLen[0]++
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated header", append(good(0), good(1)[:7]...), "f.tfrecord: record 1 (byte 68): truncated header (7 of 12 bytes)"},
		{"truncated data", append(good(0), good(1)[:40]...), "f.tfrecord: record 1 (byte 68): truncated: 28 bytes of data and CRC, want 56"},
		{"length crc", append(good(0), badLen...), "f.tfrecord: record 1 (byte 68): length CRC mismatch"},
		{"huge length", append(good(0), huge...), "f.tfrecord: record 1 (byte 68): length 1099511627776 exceeds 268435456 bytes"},
		{"lying length", lying, "f.tfrecord: record 0 (byte 0): truncated: 0 bytes of data and CRC, want 209715204"},
		{"not tfrecord", []byte("x,y,label\n1,2,3\n4,5,6\n"), "f.tfrecord: record 0 (byte 0): length CRC mismatch (not a TFRecord file, or corrupt)"},
	} {
		_, _, _, err := parseTF(t, tc.data, s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if recLen != 68 {
		t.Fatalf("records of %d bytes: the offsets above assume 68", recLen)
	}
}

// Image features: a PNG of another size, a decompression bomb's header
// and bytes that are no image are rejected before any pixel is decoded.
func TestParseTFRecordImages(t *testing.T) {
	data := tfrecordFixture(t, "3")
	s := tfSchema(t, data, CSVOptions{})
	img := func(b []byte) []byte {
		return tfFrame(tfExampleBytes(map[string]any{"x": []float32{1}, "v": []float32{1, 2, 3}, "count": []int64{1}, "label": []int64{1}, "image": [][]byte{b}}))
	}
	for _, tc := range []struct {
		name, reject string
		image        []byte
	}{
		{"bomb", `field "image": image of 100000×100000 pixels, want 4×5`, pngHeader(100000, 100000)},
		{"other size", `field "image": image of 5×4 pixels, want 4×5`, pngHeader(4, 5)},
		{"truncated", `field "image": decoding the image: unexpected EOF`, pngHeader(5, 4)},
		{"not an image", `field "image": not a PNG or JPEG image: image: unknown format`, []byte("GIF89a....")},
	} {
		_, rejects, n, err := parseTF(t, append(bytes.Clone(data), img(tc.image)...), s)
		if err != nil || n != 4 || len(rejects) != 1 || rejects[0] != (Reject{"f.tfrecord", 3, tc.reject}) {
			t.Errorf("%s: err %v, %d read, rejects %v; want record 3: %s", tc.name, err, n, rejects, tc.reject)
		}
	}
}

func FuzzParseTFRecord(f *testing.F) {
	var seed []byte
	for i := range 3 {
		seed = append(seed, tfFrame(tfExampleBytes(map[string]any{"x": []float32{float32(i)}, "v": []float32{1, 2}, "name": [][]byte{[]byte("red")}, "image": [][]byte{pngHeader(2, 2)}, "label": []int64{int64(i)}}))...)
	}
	f.Add(seed)
	f.Add(tfFrame([]byte{0x0a, 0x03, 0x0a, 0x01, 0x0a}))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(seed)
	zw.Close()
	f.Add(gz.Bytes())
	s, err := NewCSVSchema([]string{"image", "label", "name", "v", "x"}, CSVOptions{Categorical: []string{"name"}, Missing: MissingMean, MaxClasses: 10})
	if err != nil {
		f.Fatal(err)
	}
	s.SetVocab(map[string]map[string]int64{"name": {"red": 1, "blue": 1}})
	if err := s.SetVectors(map[string]int{"v": 2}); err != nil {
		f.Fatal(err)
	}
	if err := s.SetImages(map[string][]int{"image": {2, 2, 1}}); err != nil {
		f.Fatal(err)
	}
	f.Add(tfExampleBytes(map[string]any{"x": []float32{1}, "v": []float32{1, 2}, "name": [][]byte{[]byte("blue")}, "label": []int64{1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// As a stream, and framed as one record: the CRCs would keep most
		// mutations away from the tf.Example decoder.
		parseTFFuzz(t, s, data)
		parseTFFuzz(t, s, tfFrame(data))
		ScanTFRecordFields(bytes.NewReader(data), "f.tfrecord", 10)
	})
}

func parseTFFuzz(t *testing.T, s *CSVSchema, data []byte) {
	sink := &fuzzSink{t: t, features: 9}
	n, err := ParseTFRecord(bytes.NewReader(data), "f.tfrecord", s, 3, sink.emit, sink.reject)
	if err == nil {
		sink.check(n)
	}
}

// Raw pixels (SetRawImage): bytes of the shape's size, else a reject.
func TestParseTFRecordRawImage(t *testing.T) {
	pix := make([]byte, 2*3*3)
	for k := range pix {
		pix[k] = byte(k * 10)
	}
	data := append(tfFrame(tfExampleBytes(map[string]any{"pix": [][]byte{pix}, "label": []int64{1}})),
		tfFrame(tfExampleBytes(map[string]any{"pix": [][]byte{pix[:17]}, "label": []int64{1}}))...)
	s, err := NewCSVSchema([]string{"label", "pix"}, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRawImage("pix", []int{2, 3, 3}); err != nil {
		t.Fatal(err)
	}
	blk, rejects, n, err := parseTF(t, data, s)
	if err != nil || n != 2 || blk.Rows() != 1 || !reflect.DeepEqual(rejects, []Reject{{"f.tfrecord", 1, `field "pix": 17 bytes of raw pixels, want 18 ([2 3 3])`}}) {
		t.Fatalf("err %v, %d read, %d rows, rejects %v", err, n, blk.Rows(), rejects)
	}
	for k, v := range blk.DenseValues {
		if v != float32(k*10) {
			t.Fatalf("pixels %v", blk.DenseValues)
		}
	}
	if err := s.SetRawImage("pix", []int{1 << 13, 1 << 13, 3}); err == nil {
		t.Error("a 201M-value image shape was accepted")
	}
}

// Categorical bytes features: counted by ScanTFRecordCategories, one-hot
// in the rows; a class-name label.
func TestParseTFRecordCategorical(t *testing.T) {
	var data []byte
	colors := []string{"red", "green", "blue", "red"}
	for i, c := range colors {
		data = append(data, tfFrame(tfExampleBytes(map[string]any{"color": [][]byte{[]byte(c)}, "size": []int64{int64(i)}, "label": [][]byte{[]byte([]string{"cat", "dog"}[i%2])}}))...)
	}
	data = append(data, tfFrame(tfExampleBytes(map[string]any{"color": [][]byte{[]byte("mauve")}, "size": []int64{9}, "label": [][]byte{[]byte("cat")}}))...)
	s, err := NewCSVSchema([]string{"color", "label", "size"}, CSVOptions{Categorical: []string{"color", "size"}, Classes: []string{"cat", "dog"}, MaxOneHot: 4})
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := ScanTFRecordCategories(bytes.NewReader(data[:len(data)-len(tfFrame(nil))-60]), "f.tfrecord", s)
	if err == nil {
		t.Fatal("a cut record did not fail the scan")
	}
	vocab, err = ScanTFRecordCategories(bytes.NewReader(data), "f.tfrecord", s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vocab["color"], map[string]int64{"red": 2, "green": 1, "blue": 1, "mauve": 1}) || !reflect.DeepEqual(vocab["size"], map[string]int64{"0": 1, "1": 1, "2": 1, "3": 1, "9": 1}) {
		t.Fatalf("vocab %v", vocab)
	}
	// size has 5 values > MaxOneHot 4: hashed; color one-hot over 4.
	s.SetVocab(vocab)
	if s.Features != 4+16 || !s.Columns[2].Hashed {
		t.Fatalf("schema %+v", s.Columns)
	}
	blk, rejects, n, err := parseTF(t, data, s)
	if err != nil || n != 5 || len(rejects) != 0 {
		t.Fatalf("err %v, %d read, rejects %v", err, n, rejects)
	}
	// Vocabulary order: blue, green, mauve, red.
	for i, want := range [][]float32{{0, 0, 0, 1}, {0, 1, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 1}, {0, 0, 1, 0}} {
		if got := blk.DenseValues[i*20 : i*20+4]; !reflect.DeepEqual(got, want) || blk.Labels[i] != float32(i%2) {
			t.Errorf("row %d: color %v label %v, want %v label %d", i, got, blk.Labels[i], want, i%2)
		}
	}
}
