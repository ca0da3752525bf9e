package formats

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestChunkLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var long []byte
	for range 3000 {
		long = append(long, bytes.Repeat([]byte{'x'}, rng.IntN(700))...)
		long = append(long, '\n')
	}
	for _, data := range [][]byte{
		[]byte("h\na\nbb\nccc\n"),
		[]byte("h\na\nbb\nccc"), // no final newline
		[]byte("h\n"),
		[]byte("h\n\n\n\n"),
		long,
		append(long, "tail"...),
	} {
		for _, start := range []int64{0, 2} {
			for _, target := range []int64{1, 2, 3, 100, 1 << 20, 3<<20 + 7} {
				chunks, err := ChunkLines(bytes.NewReader(data), int64(len(data)), start, target)
				if err != nil {
					t.Fatal(err)
				}
				pos := start
				for k, c := range chunks {
					if c.Offset != pos || c.Length <= 0 {
						t.Fatalf("len %d start %d target %d: chunk %d %+v does not follow %d", len(data), start, target, k, c, pos)
					}
					end := c.Offset + c.Length
					last := k == len(chunks)-1
					if !last && (data[end-1] != '\n' || c.Length < target || bytes.IndexByte(data[c.Offset+target-1:end-1], '\n') >= 0) {
						t.Fatalf("len %d start %d target %d: chunk %d %+v does not end at the first line end after %d bytes", len(data), start, target, k, c, target)
					}
					if want := 1 + int64(bytes.Count(data[:c.Offset], []byte{'\n'})); c.FirstLine != want {
						t.Fatalf("chunk %+v: FirstLine %d, want %d", c, c.FirstLine, want)
					}
					pos = end
				}
				if pos != int64(len(data)) {
					t.Fatalf("len %d start %d target %d: chunks end at %d", len(data), start, target, pos)
				}
			}
		}
	}
}

type failingReaderAt struct{}

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

func TestChunkLinesErrors(t *testing.T) {
	r := strings.NewReader("abc\n")
	for _, tc := range []struct {
		size, start, target int64
		want                string
	}{
		{4, 0, 0, "chunk target must be positive, got 0"},
		{4, 5, 10, "chunk start 5 outside the file's 4 bytes"},
		{4, -1, 10, "chunk start -1 outside the file's 4 bytes"},
		{10, 0, 10, "reading at 4: EOF"}, // the file is shorter than said
	} {
		if _, err := ChunkLines(r, tc.size, tc.start, tc.target); err == nil || err.Error() != tc.want {
			t.Errorf("ChunkLines(%d, %d, %d) = %v, want %q", tc.size, tc.start, tc.target, err, tc.want)
		}
	}
	if _, err := ChunkLines(failingReaderAt{}, 10, 2, 10); err == nil || err.Error() != "reading at 0: disk on fire" {
		t.Errorf("read error: %v", err)
	}
}

func TestLongLines(t *testing.T) {
	// A line longer than the line reader's 256 KiB buffer still parses.
	var b strings.Builder
	b.WriteString("0")
	for i := 1; i <= 100000; i++ {
		b.WriteString(" " + strconv.Itoa(i) + ":1.5")
	}
	b.WriteString("\n1 1:1\n")
	if b.Len() < 1<<19 {
		t.Fatalf("test line of %d bytes is not long", b.Len())
	}
	blk, rejects, n := parseLIBSVMString(t, b.String(), 100000, LIBSVMOptions{})
	if len(rejects) != 0 || n != 2 || len(blk.Indices) != 100001 || blk.Indices[99999] != 99999 || blk.Values[99999] != 1.5 || blk.Labels[1] != 1 {
		t.Fatalf("long line: rejects %v, rows %d, %d values", rejects, n, len(blk.Indices))
	}
}
