package formats

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// IDX magic numbers: two zero bytes, the element type (0x08: unsigned
// byte), the number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// maxIDXPixels bounds rows×cols of one image (1024×1024).
const maxIDXPixels = 1 << 20

// idxBatchBytes bounds what ParseIDX allocates before the data is there: it
// reads at most this many bytes of pixels at a time, and a block starts with
// room for at most this many bytes of floats (growing only as rows arrive).
const idxBatchBytes = 64 << 20

// ParseIDX reads an IDX image file (magic 0x00000803: unsigned bytes,
// n×rows×cols, big-endian header) and its IDX label file (magic
// 0x00000801: n unsigned bytes) in lock step, as in MNIST, and emits dense
// blocks of rows×cols features holding the raw pixel values 0..255 as
// float32, labelled with the label byte.
//
// The readers are decompressed streams (see OpenMaybeGzip); imagesSize and
// labelsSize are their decompressed sizes, or -1 when unknown. A known size
// must match the header exactly. With an unknown size, a stream that ends
// early is an error naming the record where it ended, and so are bytes
// after the last record. Memory is bounded by one block whatever the
// header says.
//
// Record i (0-based) gets the ID rows.RecordID(imagesName, i). A label
// ≥ numClasses is not an error: the record goes to reject (with the labels
// file's name) and is skipped. n counts the records read, rejected or not.
func ParseIDX(images, labels io.Reader, imagesName, labelsName string, imagesSize, labelsSize int64, numClasses, blockRows int, emit Emit, reject func(Reject)) (n int64, err error) {
	if numClasses <= 0 || numClasses > 256 {
		return 0, fmt.Errorf("%s: numClasses must be in 1..256, got %d", labelsName, numClasses)
	}
	var ih [16]byte
	if err := readHeader(images, ih[:], imagesName); err != nil {
		return 0, err
	}
	if m := binary.BigEndian.Uint32(ih[0:]); m != idxImagesMagic {
		return 0, fmt.Errorf("%s: magic 0x%08x is not an IDX image file of unsigned bytes (want 0x%08x)", imagesName, m, idxImagesMagic)
	}
	count := int64(binary.BigEndian.Uint32(ih[4:]))
	h, w := int64(binary.BigEndian.Uint32(ih[8:])), int64(binary.BigEndian.Uint32(ih[12:]))
	if h == 0 || w == 0 || h > maxIDXPixels || w > maxIDXPixels || h*w > maxIDXPixels {
		return 0, fmt.Errorf("%s: image size %d×%d out of range (1..%d pixels)", imagesName, h, w, maxIDXPixels)
	}
	pix := h * w
	if imagesSize >= 0 && imagesSize-16 != count*pix {
		return 0, fmt.Errorf("%s: header says %d images of %d×%d = %d bytes but the file holds %d after its 16-byte header",
			imagesName, count, h, w, count*pix, imagesSize-16)
	}

	var lh [8]byte
	if err := readHeader(labels, lh[:], labelsName); err != nil {
		return 0, err
	}
	if m := binary.BigEndian.Uint32(lh[0:]); m != idxLabelsMagic {
		return 0, fmt.Errorf("%s: magic 0x%08x is not an IDX label file of unsigned bytes (want 0x%08x)", labelsName, m, idxLabelsMagic)
	}
	if lc := int64(binary.BigEndian.Uint32(lh[4:])); lc != count {
		return 0, fmt.Errorf("%s: header says %d labels but %s says %d images", labelsName, lc, imagesName, count)
	}
	if labelsSize >= 0 && labelsSize-8 != count {
		return 0, fmt.Errorf("%s: header says %d labels = %d bytes but the file holds %d after its 8-byte header",
			labelsName, count, count, labelsSize-8)
	}

	// Allocations follow the data, not the header: a corrupt count or size
	// fails at the first short read, having allocated a bounded batch.
	alloc := int(min(int64(blockRows), count, idxBatchBytes/(4*pix)))
	bw, err := newBlockWriter(imagesName, false, int(pix), blockRows, alloc, emit)
	if err != nil {
		return 0, err
	}
	batch := max(1, min(int64(blockRows), count, idxBatchBytes/pix))
	pbuf := make([]byte, batch*pix)
	lbuf := make([]byte, batch)
	row := make([]float32, pix)
	for n < count {
		k := min(int64(len(lbuf)), count-n)
		if got, err := io.ReadFull(images, pbuf[:k*pix]); err != nil {
			return n, truncated(imagesName, err, n+int64(got)/pix, count, int64(got)%pix, pix, "bytes of pixels")
		}
		if got, err := io.ReadFull(labels, lbuf[:k]); err != nil {
			return n, truncated(labelsName, err, n+int64(got), count, 0, 1, "labels")
		}
		for i := int64(0); i < k; i++ {
			rec := n + i
			if l := int(lbuf[i]); l >= numClasses {
				if reject != nil {
					reject(Reject{File: labelsName, Record: rec, Reason: fmt.Sprintf("label %d >= %d classes", l, numClasses)})
				}
				continue
			}
			for j, p := range pbuf[i*pix : (i+1)*pix] {
				row[j] = float32(p)
			}
			bw.blk.AppendDense(rows.RecordID(imagesName, rec), float32(lbuf[i]), row)
			if err := bw.full(); err != nil {
				return rec + 1, err
			}
		}
		n += k
	}
	if imagesSize < 0 {
		if err := atEOF(images, imagesName, count); err != nil {
			return n, err
		}
	}
	if labelsSize < 0 {
		if err := atEOF(labels, labelsName, count); err != nil {
			return n, err
		}
	}
	return n, bw.flush()
}

func readHeader(r io.Reader, h []byte, name string) error {
	got, err := io.ReadFull(r, h)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: file ends after %d bytes, inside its %d-byte IDX header", name, got, len(h))
	}
	if err != nil {
		return fmt.Errorf("%s: reading IDX header: %w", name, err)
	}
	return nil
}

// truncated describes a short read: the stream ended (or failed) inside
// record rec of count, partial units into it.
func truncated(name string, err error, rec, count, partial, unit int64, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if partial > 0 {
			return fmt.Errorf("%s: truncated: record %d of %d (0-based) ends after %d of %d %s", name, rec, count, partial, unit, what)
		}
		return fmt.Errorf("%s: truncated: file ends at record %d (0-based) but the header says %d records", name, rec, count)
	}
	return fmt.Errorf("%s: reading record %d: %w", name, rec, err)
}

// atEOF checks that r holds nothing after the last record.
func atEOF(r io.Reader, name string, count int64) error {
	var b [1]byte
	for {
		k, err := r.Read(b[:])
		if k > 0 {
			return fmt.Errorf("%s: data after the last of the header's %d records", name, count)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: after the last record: %w", name, err)
		}
	}
}

// OpenMaybeGzip returns a reader of r's content, decompressed when r starts
// with the gzip magic bytes 1f 8b. A corrupt gzip header is an error here;
// corrupt data shows up as read errors. Callers wrap errors with the file
// name.
func OpenMaybeGzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// mnistFiles are the stems of the four MNIST files. Some mirrors write a
// dot instead of the hyphen before "idx".
var mnistFiles = [4][2]string{
	{"train-images-idx3-ubyte", "train-images.idx3-ubyte"},
	{"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"},
	{"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"},
	{"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"},
}

// FindMNIST picks the four MNIST files out of a directory listing (base
// names or paths). Each may be gzipped (".gz"); when both forms are
// present the uncompressed one wins. The error lists what is missing.
func FindMNIST(names []string) (trainImages, trainLabels, testImages, testLabels string, err error) {
	var found [4]string
	var gz [4]bool
	for _, name := range names {
		base := name[strings.LastIndexAny(name, `/\`)+1:]
		stem, isGz := strings.CutSuffix(base, ".gz")
		for i, alts := range mnistFiles {
			if stem != alts[0] && stem != alts[1] {
				continue
			}
			if found[i] == "" || (gz[i] && !isGz) {
				found[i], gz[i] = name, isGz
			}
		}
	}
	var missing []string
	for i, f := range found {
		if f == "" {
			missing = append(missing, mnistFiles[i][0]+"[.gz]")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", "", "", "", fmt.Errorf("MNIST files missing: %s", strings.Join(missing, ", "))
	}
	return found[0], found[1], found[2], found[3], nil
}
