package accel

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// BLASLibEnv names the environment variable that overrides the search for a
// CBLAS library with one path.
const BLASLibEnv = "LIGHTBEAM_BLAS_LIB"

// blasCandidates are the CBLAS libraries tried in order: BLIS first (fast
// on every x86 we measured), OpenBLAS second.
var blasCandidates = []string{
	"libblis.so.4",
	"/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4",
	"/usr/lib/aarch64-linux-gnu/blis-pthread/libblis.so.4",
	"libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
	"/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
}

// CBLAS enum values.
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// blasLib is a loaded CBLAS library. Libraries stay loaded for the life of
// the process: unloading a threaded BLAS under live worker threads is unsafe.
type blasLib struct {
	path   string
	detail string
	sgemm  func(order, ta, tb, m, n, k int32, alpha float32, a unsafe.Pointer, lda int32, b unsafe.Pointer, ldb int32, beta float32, c unsafe.Pointer, ldc int32)
	sgemv  func(order, ta, m, n int32, alpha float32, a unsafe.Pointer, lda int32, x unsafe.Pointer, incx int32, beta float32, y unsafe.Pointer, incy int32)
	saxpy  func(n int32, alpha float32, x unsafe.Pointer, incx int32, y unsafe.Pointer, incy int32)
	sscal  func(n int32, alpha float32, x unsafe.Pointer, incx int32)

	// threads gets and sets the library's thread count per call (nil
	// when the library has no such call).
	getThreads func() int
	setThreads func(n int)
}

var (
	blasMu    sync.Mutex
	blasCache = map[string]*blasLib{}
)

// dlopenBLAS opens the CBLAS library the blas backend loads: the path in
// $LIGHTBEAM_BLAS_LIB if set, else the first of BLIS and OpenBLAS that
// dlopen finds. The error names every library it looked for.
func dlopenBLAS() (uintptr, string, error) {
	names := blasCandidates
	if p := os.Getenv(BLASLibEnv); p != "" {
		names = []string{p}
	}
	var errs []string
	for _, name := range names {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, name, nil
		}
		errs = append(errs, err.Error())
	}
	if len(names) == 1 {
		return 0, "", fmt.Errorf("accel: blas: cannot load %s=%s: %s", BLASLibEnv, names[0], errs[0])
	}
	return 0, "", fmt.Errorf("accel: blas: no CBLAS library found (tried %s; install libblis4-pthread or set %s): %s",
		strings.Join(names, ", "), BLASLibEnv, errs[0])
}

// loadBLAS loads (once per path) the library dlopenBLAS names, binds its
// CBLAS entry points and sets its thread count to GOMAXPROCS unless the
// user set BLIS_NUM_THREADS or OPENBLAS_NUM_THREADS.
func loadBLAS() (*blasLib, error) {
	blasMu.Lock()
	defer blasMu.Unlock()
	h, path, err := dlopenBLAS()
	if err != nil {
		return nil, err
	}
	if lib := blasCache[path]; lib != nil {
		return lib, nil
	}
	lib := &blasLib{path: path}
	syms := []struct {
		name string
		fn   any
	}{
		{"cblas_sgemm", &lib.sgemm},
		{"cblas_sgemv", &lib.sgemv},
		{"cblas_saxpy", &lib.saxpy},
		{"cblas_sscal", &lib.sscal},
	}
	for _, s := range syms {
		if err := bind(h, s.name, s.fn); err != nil {
			return nil, fmt.Errorf("accel: blas: %s: %w", path, err)
		}
	}
	lib.detail = tuneBLAS(h, lib, path)
	blasCache[path] = lib
	return lib, nil
}

// bind points fn (a pointer to a func variable) at symbol name of lib.
func bind(lib uintptr, name string, fn any) error {
	sym, err := purego.Dlsym(lib, name)
	if err != nil {
		return fmt.Errorf("missing symbol %s: %w", name, err)
	}
	if sym == 0 {
		return errors.New("missing symbol " + name)
	}
	purego.RegisterFunc(fn, sym)
	return nil
}

// tuneBLAS binds the library's thread-count calls, sets its thread count,
// and describes it.
func tuneBLAS(h uintptr, lib *blasLib, path string) string {
	threads := runtime.GOMAXPROCS(0)
	var parts []string
	if sym, err := purego.Dlsym(h, "bli_thread_set_num_threads"); err == nil && sym != 0 {
		var set func(n int64)
		var get func() int64
		purego.RegisterFunc(&set, sym)
		if bind(h, "bli_thread_get_num_threads", &get) == nil {
			lib.setThreads = func(n int) { set(int64(n)) }
			lib.getThreads = func() int { return int(get()) }
		}
		if os.Getenv("BLIS_NUM_THREADS") == "" {
			set(int64(threads))
			parts = append(parts, fmt.Sprintf("%d threads", threads))
		} else {
			parts = append(parts, "BLIS_NUM_THREADS="+os.Getenv("BLIS_NUM_THREADS"))
		}
		var version func() string
		if bind(h, "bli_info_get_version_str", &version) == nil {
			parts = append([]string{"BLIS " + version()}, parts...)
		}
		var archID func() int32
		var archName func(id int32) string
		if bind(h, "bli_arch_query_id", &archID) == nil && bind(h, "bli_arch_string", &archName) == nil {
			parts = append(parts, "kernel "+archName(archID()))
		}
	} else if sym, err := purego.Dlsym(h, "openblas_set_num_threads"); err == nil && sym != 0 {
		parts = append(parts, "OpenBLAS")
		var set func(n int32)
		var get func() int32
		purego.RegisterFunc(&set, sym)
		if bind(h, "openblas_get_num_threads", &get) == nil {
			lib.setThreads = func(n int) { set(int32(n)) }
			lib.getThreads = func() int { return int(get()) }
		}
		if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
			set(int32(threads))
			parts = append(parts, fmt.Sprintf("%d threads", threads))
		}
		var core func() string
		if bind(h, "openblas_get_corename", &core) == nil {
			parts = append(parts, "core "+core())
		}
	}
	return path + " (" + strings.Join(parts, ", ") + ")"
}

// blasBackend is the go backend with Gemm, Gemv, Axpy and Scal handed to a
// CBLAS library; buffers stay in Go memory, which the library reads in place.
type blasBackend struct {
	goBackend
	lib *blasLib
}

// NewBLAS returns the blas backend on the library dlopenBLAS names:
// $LIGHTBEAM_BLAS_LIB, else the first of BLIS and OpenBLAS found.
func NewBLAS() (Backend, error) {
	lib, err := loadBLAS()
	if err != nil {
		return nil, err
	}
	return &blasBackend{lib: lib}, nil
}

func (*blasBackend) Name() string { return "blas" }

// SetThreads sets the threads each BLAS call uses and returns the previous
// count (accel.Concurrent). Without the library's thread calls it does
// nothing and returns 0.
func (b *blasBackend) SetThreads(n int) int {
	if b.lib.setThreads == nil {
		return 0
	}
	prev := b.lib.getThreads()
	if n > 0 {
		b.lib.setThreads(n)
	}
	return prev
}

// Detail describes the library: path, version, threads and kernel.
func (b *blasBackend) Detail() string { return b.lib.detail }

func ptr(b Buf) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(host(b))) }

func cblasTranspose(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

func (b *blasBackend) Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, bb Buf, ldb int, beta float32, c Buf, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, bb, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	b.lib.sgemm(cblasRowMajor, cblasTranspose(transA), cblasTranspose(transB), int32(m), int32(n), int32(k),
		alpha, ptr(a), int32(lda), ptr(bb), int32(ldb), beta, ptr(c), int32(ldc))
	runtime.KeepAlive(a)
	runtime.KeepAlive(bb)
	runtime.KeepAlive(c)
}

func (b *blasBackend) Gemv(transA bool, m, n int, alpha float32, a Buf, lda int, x Buf, beta float32, y Buf) {
	checkGemv(transA, m, n, a, lda, x, y)
	if m == 0 || n == 0 {
		b.goBackend.Gemv(transA, m, n, alpha, a, lda, x, beta, y)
		return
	}
	b.lib.sgemv(cblasRowMajor, cblasTranspose(transA), int32(m), int32(n), alpha, ptr(a), int32(lda), ptr(x), 1, beta, ptr(y), 1)
	runtime.KeepAlive(a)
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
}

func (b *blasBackend) Axpy(n int, alpha float32, x, y Buf) {
	checkLen("Axpy", "x", n, x)
	checkLen("Axpy", "y", n, y)
	if n == 0 {
		return
	}
	b.lib.saxpy(int32(n), alpha, ptr(x), 1, ptr(y), 1)
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
}

func (b *blasBackend) Scal(n int, alpha float32, x Buf) {
	checkLen("Scal", "x", n, x)
	if n == 0 {
		return
	}
	b.lib.sscal(int32(n), alpha, ptr(x), 1)
	runtime.KeepAlive(x)
}
