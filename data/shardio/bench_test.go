package shardio

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"go/build"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightbeam-ml/lightbeam/data/rows"
)

// mnistLike returns 10000 rows of 784 pixels scaled to [0, 1]: the MNIST
// test images from the GoMNIST module when the module cache has them,
// otherwise synthetic digits with MNIST's sparsity (about 81% zeros).
func mnistLike(b *testing.B) (*rows.Block, string) {
	const n, d = 10000, 784
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		cache = filepath.Join(build.Default.GOPATH, "pkg", "mod")
	}
	files, _ := filepath.Glob(filepath.Join(cache, "github.com", "petar", "*", "data", "t10k-images-idx3-ubyte.gz"))
	if len(files) > 0 {
		if px, err := readIDX(files[0]); err == nil && len(px) >= n*d {
			blk := rows.NewDense(d, n)
			x := make([]float32, d)
			for i := 0; i < n; i++ {
				for j := range x {
					x[j] = float32(px[i*d+j]) / 255
				}
				blk.AppendDense(uint64(i)*0x9e3779b97f4a7c15, float32(i%10), x)
			}
			return blk, "MNIST t10k"
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	blk := rows.NewDense(d, n)
	x := make([]float32, d)
	for i := 0; i < n; i++ {
		for j := range x {
			x[j] = 0
			if r, c := j/28, j%28; r > 4 && r < 24 && c > 6 && c < 22 && rng.IntN(3) == 0 {
				x[j] = float32(rng.IntN(256)) / 255
			}
		}
		blk.AppendDense(rng.Uint64(), float32(rng.IntN(10)), x)
	}
	return blk, "synthetic"
}

// readIDX returns the pixel bytes of a gzipped IDX3 image file.
func readIDX(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(z)
	if err != nil || len(b) < 16 || binary.BigEndian.Uint32(b) != 0x803 {
		return nil, io.ErrUnexpectedEOF
	}
	return b[16:], nil
}

func BenchmarkWriteMNIST(b *testing.B) {
	in, src := mnistLike(b)
	var size int64
	b.SetBytes(int64(4 * len(in.DenseValues)))
	for b.Loop() {
		st, err := WriteShard(io.Discard, Header{Features: in.Features}, []*rows.Block{in})
		if err != nil {
			b.Fatal(err)
		}
		size = st.Bytes
	}
	b.ReportMetric(float64(4*len(in.DenseValues))/float64(size), "ratio")
	b.Logf("%s: %d rows, %d bytes of float32 -> %d bytes", src, in.Rows(), 4*len(in.DenseValues), size)
}

func BenchmarkReadMNIST(b *testing.B) {
	in, _ := mnistLike(b)
	var buf bytes.Buffer
	if _, err := WriteShard(&buf, Header{Features: in.Features}, []*rows.Block{in}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(4 * len(in.DenseValues)))
	for b.Loop() {
		r, err := NewReaderSize(bytes.NewReader(data), "bench.lbs", int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
