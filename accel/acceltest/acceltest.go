// Package acceltest is the conformance suite every accel backend runs:
// each kernel on random shapes (1×1, odd sizes, a few hundred), both
// transposes, strides wider than rows and views made with Slice, checked
// against a float64 reference with tolerances. The compressed-weight
// products (GemmCSR, GemmInt8) are checked the same way on empty rows, an
// all-zero matrix, a single non-zero and LeNet's first layer.
//
//	func TestConformance(t *testing.T) { acceltest.Run(t, accel.NewGo()) }
package acceltest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
)

// tol is the relative error allowed against the float64 reference, scaled
// by the sum of the magnitudes that enter each result.
const tol = 2e-5

// Run runs the suite on b. It does not close b.
func Run(t *testing.T, b accel.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, accel.Backend)
	}{
		{"Buffers", testBuffers},
		{"Gemm", testGemm},
		{"Gemv", testGemv},
		{"AxpyScal", testAxpyScal},
		{"AddBiasColSum", testAddBiasColSum},
		{"ReLU", testReLU},
		{"SoftmaxXent", testSoftmaxXent},
		{"Argmax", testArgmax},
		{"Prune", testPrune},
		{"FakeQuant", testFakeQuant},
		{"GemmCSR", testGemmCSR},
		{"GemmInt8", testGemmInt8},
		{"ShapePanics", testShapePanics},
		{"MatrixPanics", testMatrixPanics},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, b)
			if err := b.Sync(); err != nil {
				t.Fatalf("%s: Sync: %v", b.Name(), err)
			}
		})
	}
}

func random(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// padded holds host data inside a larger device buffer, reached by a view
// at off, so that kernels writing outside their view are caught.
type padded struct {
	all  accel.Buf
	view accel.Buf
	off  int
	host []float32 // the whole buffer's initial contents
}

func newPadded(b accel.Backend, r *rand.Rand, data []float32) padded {
	off := r.IntN(5)
	host := random(r, off+len(data)+3)
	copy(host[off:], data)
	all := b.Alloc(len(host))
	b.Upload(all, host)
	return padded{all: all, view: b.Slice(all, off, len(data)), off: off, host: host}
}

// result downloads the view and checks the padding around it is intact.
func (p padded) result(t *testing.T, b accel.Backend, what string) []float32 {
	t.Helper()
	got := make([]float32, len(p.host))
	b.Download(got, p.all)
	for i, v := range got {
		if (i < p.off || i >= p.off+p.view.Len()) && v != p.host[i] {
			t.Fatalf("%s: wrote outside its view at %d (view [%d:%d]): %g, was %g", what, i, p.off, p.off+p.view.Len(), v, p.host[i])
		}
	}
	b.Free(p.all)
	return got[p.off : p.off+p.view.Len()]
}

func close(t *testing.T, what string, i int, got float32, want, scale float64) {
	t.Helper()
	if d := math.Abs(float64(got) - want); !(d <= tol*scale+1e-6) {
		t.Fatalf("%s: element %d = %g, want %g (|diff| %.3g > %.3g)", what, i, got, want, d, tol*scale+1e-6)
	}
}

func testBuffers(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(1, 2))
	x := b.Alloc(100)
	b.Upload(x, random(r, 100))
	b.Free(x)
	z := b.Alloc(37)
	if z.Len() != 37 {
		t.Fatalf("Alloc(37).Len() = %d", z.Len())
	}
	got := make([]float32, 37)
	b.Download(got, z)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("Alloc(37)[%d] = %g, want 0", i, v)
		}
	}
	data := random(r, 37)
	b.Upload(z, data)
	v := b.Slice(z, 10, 5)
	b.Upload(v, []float32{1, 2, 3, 4, 5})
	inner := b.Slice(v, 2, 2) // a view of a view
	b.Upload(inner, []float32{-7, -8})
	b.Download(got, z)
	copy(data[10:], []float32{1, 2, -7, -8, 5})
	for i := range got {
		if got[i] != data[i] {
			t.Fatalf("after writes through views, [%d] = %g, want %g", i, got[i], data[i])
		}
	}
	part := make([]float32, 3)
	b.Download(part, b.Slice(z, 11, 4))
	if part[0] != 2 || part[1] != -7 || part[2] != -8 {
		t.Fatalf("Download of a view = %v, want [2 -7 -8]", part)
	}
	b.Free(z)
	b.Free(b.Alloc(0))
}

type gemmCase struct{ m, n, k int }

var gemmShapes = []gemmCase{{1, 1, 1}, {7, 13, 5}, {1, 9, 4}, {8, 1, 3}, {5, 6, 1}, {33, 17, 64}, {3, 4, 0}, {211, 300, 257}}

func testGemm(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range gemmShapes {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {-0.5, 1.5}} {
				name := fmt.Sprintf("Gemm(transA=%v transB=%v m=%d n=%d k=%d alpha=%g beta=%g)", tr[0], tr[1], s.m, s.n, s.k, ab[0], ab[1])
				gemmOne(t, b, r, name, tr[0], tr[1], s.m, s.n, s.k, ab[0], ab[1])
			}
		}
	}
}

func gemmOne(t *testing.T, b accel.Backend, r *rand.Rand, name string, ta, tb bool, m, n, k int, alpha, beta float32) {
	t.Helper()
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+r.IntN(3), bc+r.IntN(3), n+r.IntN(3)
	lda, ldb, ldc = max(lda, 1), max(ldb, 1), max(ldc, 1)
	a, bm, c := random(r, ar*lda), random(r, br*ldb), random(r, m*ldc)
	at := func(i, l int) float64 { // op(A)[i,l]
		if ta {
			return float64(a[l*lda+i])
		}
		return float64(a[i*lda+l])
	}
	bt := func(l, j int) float64 {
		if tb {
			return float64(bm[j*ldb+l])
		}
		return float64(bm[l*ldb+j])
	}
	pa, pb, pc := newPadded(b, r, a), newPadded(b, r, bm), newPadded(b, r, c)
	b.Gemm(ta, tb, m, n, k, alpha, pa.view, lda, pb.view, ldb, beta, pc.view, ldc)
	pa.result(t, b, name+" A")
	pb.result(t, b, name+" B")
	got := pc.result(t, b, name)
	for i := range m {
		for j := range ldc {
			idx := i*ldc + j
			if j >= n {
				if got[idx] != c[idx] {
					t.Fatalf("%s: wrote C[%d] in the stride gap: %g, was %g", name, idx, got[idx], c[idx])
				}
				continue
			}
			var sum, mag float64
			for l := range k {
				sum += at(i, l) * bt(l, j)
				mag += math.Abs(at(i, l) * bt(l, j))
			}
			want := float64(alpha)*sum + float64(beta)*float64(c[idx])
			close(t, name, idx, got[idx], want, math.Abs(float64(alpha))*mag+math.Abs(float64(beta)*float64(c[idx])))
		}
	}
}

func testGemv(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][2]int{{1, 1}, {7, 13}, {13, 7}, {1, 5}, {300, 211}, {0, 4}} {
		for _, ta := range []bool{false, true} {
			for _, ab := range [][2]float32{{1, 0}, {2, -1}} {
				m, n := s[0], s[1]
				name := fmt.Sprintf("Gemv(transA=%v m=%d n=%d alpha=%g beta=%g)", ta, m, n, ab[0], ab[1])
				lda := n + r.IntN(3)
				xn, yn := n, m
				if ta {
					xn, yn = m, n
				}
				a, x, y := random(r, m*lda), random(r, xn), random(r, yn)
				pa, px, py := newPadded(b, r, a), newPadded(b, r, x), newPadded(b, r, y)
				b.Gemv(ta, m, n, ab[0], pa.view, lda, px.view, ab[1], py.view)
				pa.result(t, b, name+" A")
				px.result(t, b, name+" x")
				got := py.result(t, b, name)
				for i := range yn {
					var sum, mag float64
					for l := range xn {
						var av float32
						if ta {
							av = a[l*lda+i]
						} else {
							av = a[i*lda+l]
						}
						sum += float64(av) * float64(x[l])
						mag += math.Abs(float64(av) * float64(x[l]))
					}
					want := float64(ab[0])*sum + float64(ab[1])*float64(y[i])
					close(t, name, i, got[i], want, math.Abs(float64(ab[0]))*mag+math.Abs(float64(ab[1]*y[i])))
				}
			}
		}
	}
}

func testAxpyScal(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 7, 1000, 0} {
		x, y := random(r, n), random(r, n)
		px, py := newPadded(b, r, x), newPadded(b, r, y)
		b.Axpy(n, -0.75, px.view, py.view)
		px.result(t, b, "Axpy x")
		got := py.result(t, b, "Axpy")
		for i := range n {
			close(t, fmt.Sprintf("Axpy(n=%d)", n), i, got[i], float64(y[i])-0.75*float64(x[i]), math.Abs(float64(y[i]))+math.Abs(float64(x[i])))
		}
		ps := newPadded(b, r, x)
		b.Scal(n, 3, ps.view)
		got = ps.result(t, b, "Scal")
		for i := range n {
			close(t, fmt.Sprintf("Scal(n=%d)", n), i, got[i], 3*float64(x[i]), 3*math.Abs(float64(x[i])))
		}
	}
}

func testAddBiasColSum(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range [][2]int{{1, 1}, {7, 13}, {512, 300}, {3, 1}} {
		m, n := s[0], s[1]
		x, bias := random(r, m*n), random(r, n)
		px, pb := newPadded(b, r, x), newPadded(b, r, bias)
		b.AddBias(m, n, px.view, pb.view)
		pb.result(t, b, "AddBias bias")
		got := px.result(t, b, "AddBias")
		for i := range m * n {
			close(t, fmt.Sprintf("AddBias(%d×%d)", m, n), i, got[i], float64(x[i])+float64(bias[i%n]), math.Abs(float64(x[i]))+math.Abs(float64(bias[i%n])))
		}
		px, pd := newPadded(b, r, x), newPadded(b, r, random(r, n))
		b.ColSum(m, n, px.view, pd.view)
		px.result(t, b, "ColSum x")
		got = pd.result(t, b, "ColSum")
		for j := range n {
			var sum, mag float64
			for i := range m {
				sum += float64(x[i*n+j])
				mag += math.Abs(float64(x[i*n+j]))
			}
			close(t, fmt.Sprintf("ColSum(%d×%d)", m, n), j, got[j], sum, mag)
		}
	}
}

func testReLU(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 13, 70000} {
		x := random(r, n)
		x[0] = 0
		px := newPadded(b, r, x)
		b.ReLU(n, px.view)
		y := px.result(t, b, "ReLU")
		for i := range n {
			if want := max(x[i], 0); y[i] != want {
				t.Fatalf("ReLU(n=%d)[%d] = %g, want %g", n, i, y[i], want)
			}
		}
		g := random(r, n)
		pg, py := newPadded(b, r, g), newPadded(b, r, y)
		b.ReLUGrad(n, pg.view, py.view)
		py.result(t, b, "ReLUGrad y")
		got := pg.result(t, b, "ReLUGrad")
		for i := range n {
			want := g[i]
			if y[i] <= 0 {
				want = 0
			}
			if got[i] != want {
				t.Fatalf("ReLUGrad(n=%d)[%d] = %g, want %g (y=%g)", n, i, got[i], want, y[i])
			}
		}
	}
	// The edges: ReLU keeps exactly the values > 0 (+Inf and the
	// smallest denormal too) and writes +0 for the rest, NaN included.
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	x := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, inf, -inf, nan, -nan, 3, -3}
	want := []float32{0, 0, 1e-45, 0, inf, 0, 0, 0, 3, 0}
	px := newPadded(b, r, x)
	b.ReLU(len(x), px.view)
	for i, v := range px.result(t, b, "ReLU edges") {
		if math.Float32bits(v) != math.Float32bits(want[i]) {
			t.Errorf("ReLU(%g) = %g, want %g", x[i], v, want[i])
		}
	}
}

func testSoftmaxXent(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, s := range [][2]int{{1, 1}, {1, 10}, {7, 13}, {512, 10}, {3, 1000}} {
		for _, alias := range []bool{false, true} {
			m, n := s[0], s[1]
			name := fmt.Sprintf("SoftmaxXent(%d×%d alias=%v)", m, n, alias)
			z := random(r, m*n)
			for i := range z {
				z[i] *= 8 // wide logits exercise the max shift
			}
			labels := make([]float32, m)
			for i := range labels {
				labels[i] = float32(r.IntN(n))
			}
			pz, pl := newPadded(b, r, z), newPadded(b, r, labels)
			grad := pz
			if !alias {
				grad = newPadded(b, r, make([]float32, m*n))
			}
			loss := b.SoftmaxXent(m, n, pz.view, pl.view, grad.view)
			pl.result(t, b, name+" labels")
			if !alias {
				pz.result(t, b, name+" logits")
			}
			got := grad.result(t, b, name)
			var want float64
			for i := range m {
				row := z[i*n : i*n+n]
				mx := math.Inf(-1)
				for _, v := range row {
					mx = math.Max(mx, float64(v))
				}
				var sum float64
				for _, v := range row {
					sum += math.Exp(float64(v) - mx)
				}
				y := int(labels[i])
				want += math.Log(sum) - (float64(row[y]) - mx)
				for j, v := range row {
					p := math.Exp(float64(v)-mx) / sum
					if j == y {
						p--
					}
					close(t, name, i*n+j, got[i*n+j], p, 1)
				}
			}
			if d := math.Abs(loss - want); !(d <= 1e-5*(math.Abs(want)+float64(m))) {
				t.Fatalf("%s: loss %g, want %g", name, loss, want)
			}
		}
	}
	// A label naming no class makes the loss NaN.
	pz, pl := b.Alloc(6), b.Alloc(2)
	b.Upload(pl, []float32{1, 3})
	if loss := b.SoftmaxXent(2, 3, pz, pl, pz); !math.IsNaN(loss) {
		t.Fatalf("SoftmaxXent with label 3 of 3 classes: loss %g, want NaN", loss)
	}
	b.Free(pz)
	b.Free(pl)
}

func testArgmax(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, s := range [][2]int{{1, 1}, {7, 13}, {512, 10}, {2, 1000}} {
		m, n := s[0], s[1]
		x := random(r, m*n)
		// Ties: the first of equal largest values wins.
		if n > 3 {
			x[1], x[3] = 50, 50
		}
		px, pd := newPadded(b, r, x), newPadded(b, r, make([]float32, m))
		b.Argmax(m, n, px.view, pd.view)
		px.result(t, b, "Argmax x")
		got := pd.result(t, b, "Argmax")
		for i := range m {
			best := 0
			for j := range n {
				if x[i*n+j] > x[i*n+best] {
					best = j
				}
			}
			if got[i] != float32(best) {
				t.Fatalf("Argmax(%d×%d) row %d = %g, want %d", m, n, i, got[i], best)
			}
		}
	}
}

func testPrune(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{1, 13, 100003} {
		x := random(r, n)
		x[0] = 0.5 // exactly at the threshold: kept
		const th = 0.5
		px, pm := newPadded(b, r, x), newPadded(b, r, random(r, n))
		ones := b.Threshold(n, px.view, th, pm.view)
		px.result(t, b, "Threshold x")
		mask := pm.result(t, b, "Threshold")
		want := 0
		for i, v := range x {
			keep := float32(0)
			if math.Abs(float64(v)) >= th {
				keep = 1
				want++
			}
			if mask[i] != keep {
				t.Fatalf("Threshold(n=%d, %g) mask[%d] = %g, want %g (x=%g)", n, th, i, mask[i], keep, v)
			}
		}
		if ones != want {
			t.Fatalf("Threshold(n=%d) = %d ones, want %d", n, ones, want)
		}
		py, pm2 := newPadded(b, r, x), newPadded(b, r, mask)
		b.ApplyMask(n, py.view, pm2.view)
		pm2.result(t, b, "ApplyMask mask")
		got := py.result(t, b, "ApplyMask")
		for i := range n {
			if got[i] != x[i]*mask[i] {
				t.Fatalf("ApplyMask(n=%d)[%d] = %g, want %g", n, i, got[i], x[i]*mask[i])
			}
		}
	}
}

func testFakeQuant(t *testing.T, b accel.Backend) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, c := range []struct {
		n          int
		scale      float32
		qmin, qmax int
	}{{1, 0.1, -128, 127}, {13, 0.02, -8, 7}, {50000, 0.013, -128, 127}, {9, 1, 0, 3}} {
		x := random(r, c.n)
		px := newPadded(b, r, x)
		b.FakeQuant(c.n, px.view, c.scale, c.qmin, c.qmax)
		got := px.result(t, b, "FakeQuant")
		for i, v := range x {
			q := math.Round(float64(v / c.scale)) // the quotient in float32, as the kernels compute it
			q = math.Min(math.Max(q, float64(c.qmin)), float64(c.qmax))
			close(t, fmt.Sprintf("FakeQuant(n=%d scale=%g [%d,%d])", c.n, c.scale, c.qmin, c.qmax), i, got[i], q*float64(c.scale), math.Abs(q*float64(c.scale)))
		}
	}
}

func testShapePanics(t *testing.T, b accel.Backend) {
	x := b.Alloc(10)
	defer b.Free(x)
	cases := map[string]func(){
		"Gemm with A too short":   func() { b.Gemm(false, false, 4, 4, 4, 1, x, 4, x, 4, 0, x, 4) },
		"Gemm with lda < columns": func() { b.Gemm(false, false, 1, 1, 2, 1, x, 1, x, 1, 0, x, 1) },
		"Gemv with y too short":   func() { b.Gemv(true, 2, 11, 1, b.Alloc(22), 11, x, 0, x) },
		"Axpy past the end":       func() { b.Axpy(11, 1, x, x) },
		"Slice past the end":      func() { b.Slice(x, 8, 3) },
		"AddBias past the end":    func() { b.AddBias(3, 4, x, x) },
		"FakeQuant with scale 0":  func() { b.FakeQuant(10, x, 0, -1, 1) },
	}
	for name, f := range cases {
		err := catch(f)
		if !errors.Is(err, accel.ErrShape) {
			t.Errorf("%s: panic %v, want one wrapping accel.ErrShape", name, err)
		}
	}
}

func catch(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err, _ = p.(error)
			if err == nil {
				err = fmt.Errorf("%v", p)
			}
		}
	}()
	f()
	return nil
}

// testConcurrent: on a Concurrent backend, GEMMs run from several
// goroutines at once, one thread each, give the bits of the same GEMMs run
// one after another with the backend's threads.
func testConcurrent(t *testing.T, b accel.Backend) {
	c, ok := b.(accel.Concurrent)
	if !ok {
		t.Logf("%s is not Concurrent: its kernels run one call at a time", b.Name())
		return
	}
	const m, n, k, calls = 64, 300, 784, 4
	r := rand.New(rand.NewPCG(7, 7))
	x, w := b.Alloc(m*k), b.Alloc(n*k)
	defer b.Free(x)
	defer b.Free(w)
	b.Upload(x, random(r, m*k))
	b.Upload(w, random(r, n*k))
	gemm := func(i int) []float32 {
		z := b.Alloc(m * n)
		defer b.Free(z)
		b.Gemm(false, true, m, n, k, float32(i+1), x, k, w, k, 0, z, n)
		out := make([]float32, m*n)
		b.Download(out, z)
		return out
	}
	var want [calls][]float32
	for i := range want {
		want[i] = gemm(i)
	}
	var got [calls][]float32
	func() {
		defer c.SetThreads(c.SetThreads(1))
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i] = gemm(i) })
		}
		wg.Wait()
	}()
	for i := range got {
		for j := range got[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Fatalf("call %d: C[%d] = %v concurrently, %v alone", i, j, got[i][j], want[i][j])
			}
		}
	}
}
