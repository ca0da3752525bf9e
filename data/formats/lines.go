package formats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

var nan32 = float32(math.NaN())

// lineReader yields the lines of a stream without their line ends,
// numbering them.
type lineReader struct {
	br     *bufio.Reader
	long   []byte // a line longer than br's buffer
	lineNo int64  // number of the line last returned
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 1<<18)}
}

// next returns the next line (valid until the next call) or io.EOF.
func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.long = append(lr.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = lr.br.ReadSlice('\n')
			lr.long = append(lr.long, line...)
		}
		line = lr.long
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, err
	}
	lr.lineNo++
	return trimEOL(line), nil
}

// trimEOL drops a trailing "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// blank reports whether line holds only spaces and tabs.
func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// Chunk is a run of whole lines of a file, for parsing in parallel.
type Chunk struct {
	Offset    int64 // byte offset of the chunk's first line
	Length    int64 // bytes, ending just after a '\n' (or at the end of the file)
	FirstLine int64 // 1-based line number of the chunk's first line
}

// ChunkLines splits the size bytes of r from offset start (after a header,
// or 0) into chunks of about target bytes that end at line ends: each chunk
// runs to the first '\n' at or after target bytes. It reads the whole file
// once to count lines, so that each chunk knows the number of its first
// line (counting from the start of the file, header included).
func ChunkLines(r io.ReaderAt, size, start, target int64) ([]Chunk, error) {
	if target <= 0 {
		return nil, fmt.Errorf("chunk target must be positive, got %d", target)
	}
	if start < 0 || start > size {
		return nil, fmt.Errorf("chunk start %d outside the file's %d bytes", start, size)
	}
	buf := make([]byte, 1<<20)
	line := int64(1) // number of the line holding byte pos
	// Count the lines before start.
	for pos := int64(0); pos < start; {
		k, err := r.ReadAt(buf[:min(int64(len(buf)), start-pos)], pos)
		if k == 0 && err != nil {
			return nil, fmt.Errorf("reading at %d: %w", pos, err)
		}
		line += int64(bytes.Count(buf[:k], []byte{'\n'}))
		pos += int64(k)
	}
	var chunks []Chunk
	cur := Chunk{Offset: start, FirstLine: line}
	for pos := start; pos < size; {
		k, err := r.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
		if k == 0 && err != nil {
			return nil, fmt.Errorf("reading at %d: %w", pos, err)
		}
		b := buf[:k]
		for len(b) > 0 {
			// The chunk may end at the first '\n' at or after want.
			want := cur.Offset + target - 1
			skip := max(0, min(want-pos, int64(len(b))))
			line += int64(bytes.Count(b[:skip], []byte{'\n'}))
			b, pos = b[skip:], pos+skip
			j := bytes.IndexByte(b, '\n')
			if j < 0 {
				pos += int64(len(b))
				b = nil
				break
			}
			line++
			pos += int64(j) + 1
			b = b[j+1:]
			cur.Length = pos - cur.Offset
			chunks = append(chunks, cur)
			cur = Chunk{Offset: pos, FirstLine: line}
		}
	}
	if cur.Offset < size {
		cur.Length = size - cur.Offset
		chunks = append(chunks, cur)
	}
	return chunks, nil
}
