// This file holds the cuda backend: device memory, cuBLAS calls and the
// NVRTC-compiled kernels, all run on one locked OS thread. Loading the
// libraries is in cuda_lib.go.

package accel

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// cudaBlock is the thread-block size of every kernel launch.
const cudaBlock = 256

// cudaBackend runs every CUDA call on one goroutine locked to one OS thread
// (the thread that holds the context), fed closures through calls.
type cudaBackend struct {
	calls chan func()
	l     *cudaLib

	// Touched only on the CUDA thread.
	dev     int32
	ctx     uintptr
	blas    uintptr
	mod     uintptr
	fns     map[string]uintptr
	live    map[*cudaBuf]bool
	scratch *cudaBuf // per-row losses and the threshold count
	err     error    // first error since the last Sync
	detail  string
}

// cudaBuf is device memory: a root allocation or a view into one.
type cudaBuf struct {
	owner *cudaBackend
	ptr   uint64
	n     int
	root  bool
}

func (b *cudaBuf) Len() int { return b.n }

// NewCUDA returns the cuda backend on device 0 (select another with
// CUDA_VISIBLE_DEVICES). It fails fast, naming the library it looked for,
// where the driver, cuBLAS or NVRTC is missing. The kernels are compiled by
// NVRTC on the first call in the process and cached.
func NewCUDA() (Backend, error) {
	l, err := loadCUDA()
	if err != nil {
		return nil, err
	}
	b := &cudaBackend{calls: make(chan func()), l: l, fns: map[string]uintptr{}, live: map[*cudaBuf]bool{}}
	go b.serve()
	var initErr error
	b.do(func() { initErr = b.init() })
	if initErr != nil {
		b.do(b.release)
		close(b.calls)
		return nil, initErr
	}
	return b, nil
}

func (b *cudaBackend) serve() {
	runtime.LockOSThread()
	for f := range b.calls {
		f()
	}
	// The thread stays locked and so exits with the goroutine, taking its
	// CUDA thread state with it.
}

// do runs f on the CUDA thread and waits for it.
func (b *cudaBackend) do(f func()) {
	done := make(chan struct{})
	b.calls <- func() {
		defer close(done)
		f()
	}
	<-done
}

// check records the first failure; it returns whether res is success.
func (b *cudaBackend) check(op string, res int32) bool {
	if res != 0 && b.err == nil {
		b.err = fmt.Errorf("accel: cuda: %s: %s", op, b.l.errName(res))
	}
	return res == 0
}

func (b *cudaBackend) init() error {
	l := b.l
	if res := l.cuInit(0); res != 0 {
		return fmt.Errorf("accel: cuda: cuInit: %s (no usable NVIDIA GPU)", l.errName(res))
	}
	var count int32
	if res := l.cuDeviceGetCount(&count); res != 0 || count == 0 {
		return fmt.Errorf("accel: cuda: no CUDA device visible (%s)", l.errName(res))
	}
	steps := []struct {
		op  string
		res func() int32
	}{
		{"cuDeviceGet", func() int32 { return l.cuDeviceGet(&b.dev, 0) }},
		{"cuDevicePrimaryCtxRetain", func() int32 { return l.cuDevicePrimaryCtxRetain(&b.ctx, b.dev) }},
		{"cuCtxSetCurrent", func() int32 { return l.cuCtxSetCurrent(b.ctx) }},
		{"cublasCreate", func() int32 { return l.cublasCreate(&b.blas) }},
		// Plain FP32: no TF32 tensor-core shortcuts, so results match the
		// other backends' precision.
		{"cublasSetMathMode", func() int32 { return l.cublasSetMathMode(b.blas, 0) }},
	}
	for _, s := range steps {
		if res := s.res(); res != 0 {
			if s.op == "cublasCreate" || s.op == "cublasSetMathMode" {
				return fmt.Errorf("accel: cuda: %s: cublasStatus %d", s.op, res)
			}
			return fmt.Errorf("accel: cuda: %s: %s", s.op, l.errName(res))
		}
	}
	var major, minor, drv, cublasVer int32
	l.cuDeviceGetAttribute(&major, 75, b.dev) // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	l.cuDeviceGetAttribute(&minor, 76, b.dev) // ..._MINOR
	l.cuDriverGetVersion(&drv)
	l.cublasGetVersion(b.blas, &cublasVer)
	name := make([]byte, 256)
	l.cuDeviceGetName(&name[0], int32(len(name)), b.dev)
	arch := fmt.Sprintf("sm_%d%d", major, minor)
	cubin, err := b.compile(arch)
	if err != nil {
		return err
	}
	if res := l.cuModuleLoadData(&b.mod, unsafe.Pointer(&cubin[0])); res != 0 {
		return fmt.Errorf("accel: cuda: cuModuleLoadData (%s kernels): %s", arch, l.errName(res))
	}
	for _, k := range cudaKernelNames {
		var fn uintptr
		if res := l.cuModuleGetFunction(&fn, b.mod, k); res != 0 {
			return fmt.Errorf("accel: cuda: cuModuleGetFunction %s: %s", k, l.errName(res))
		}
		b.fns[k] = fn
	}
	b.detail = fmt.Sprintf("%s (%s), driver %d.%d, cuBLAS %d; %s", cString(name), arch, drv/1000, drv%1000/10, cublasVer, l.detail)
	return nil
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

var (
	cubinMu    sync.Mutex
	cubinCache = map[string][]byte{} // by GPU architecture, e.g. "sm_90"
)

// compile returns the kernels as a CUBIN for arch, compiling them with
// NVRTC the first time in the process.
func (b *cudaBackend) compile(arch string) ([]byte, error) {
	cubinMu.Lock()
	defer cubinMu.Unlock()
	if c := cubinCache[arch]; c != nil {
		return c, nil
	}
	l := b.l
	src := cudaKernelSource + "\x00"
	var prog uintptr
	if res := l.nvrtcCreateProgram(&prog, src, "lightbeam_kernels.cu\x00", 0, nil, nil); res != 0 {
		return nil, fmt.Errorf("accel: cuda: nvrtcCreateProgram: %s", l.nvrtcGetErrorString(res))
	}
	defer l.nvrtcDestroyProgram(&prog)
	opt := []byte("--gpu-architecture=" + arch + "\x00")
	opts := []*byte{&opt[0]}
	var pin runtime.Pinner
	pin.Pin(&opt[0])
	pin.Pin(&opts[0])
	res := l.nvrtcCompileProgram(prog, int32(len(opts)), unsafe.Pointer(&opts[0]))
	pin.Unpin()
	runtime.KeepAlive(src)
	if res != 0 {
		var n uintptr
		l.nvrtcGetProgramLogSize(prog, &n)
		log := make([]byte, n+1)
		l.nvrtcGetProgramLog(prog, &log[0])
		return nil, fmt.Errorf("accel: cuda: NVRTC compiling the kernels for %s: %s\n%s", arch, l.nvrtcGetErrorString(res), cString(log))
	}
	var n uintptr
	if res := l.nvrtcGetCUBINSize(prog, &n); res != 0 || n == 0 {
		return nil, fmt.Errorf("accel: cuda: nvrtcGetCUBINSize: %s", l.nvrtcGetErrorString(res))
	}
	cubin := make([]byte, n)
	if res := l.nvrtcGetCUBIN(prog, &cubin[0]); res != 0 {
		return nil, fmt.Errorf("accel: cuda: nvrtcGetCUBIN: %s", l.nvrtcGetErrorString(res))
	}
	cubinCache[arch] = cubin
	return cubin, nil
}

// release frees everything; it runs on the CUDA thread.
func (b *cudaBackend) release() {
	l := b.l
	for buf := range b.live {
		l.cuMemFree(buf.ptr)
	}
	clear(b.live)
	if b.mod != 0 {
		l.cuModuleUnload(b.mod)
		b.mod = 0
	}
	if b.blas != 0 {
		l.cublasDestroy(b.blas)
		b.blas = 0
	}
	if b.ctx != 0 {
		l.cuDevicePrimaryCtxRel(b.dev)
		b.ctx = 0
	}
}

func (b *cudaBackend) Name() string { return "cuda" }

// Detail names the GPU, its architecture and the libraries in use.
func (b *cudaBackend) Detail() string { return b.detail }

func (b *cudaBackend) buf(x Buf) *cudaBuf {
	c, ok := x.(*cudaBuf)
	if !ok || c.owner != b {
		panic(fmt.Errorf("%w: %T is not a buffer of this cuda backend", ErrForeignBuf, x))
	}
	return c
}

// Alloc panics if the device is out of memory.
func (b *cudaBackend) Alloc(n int) Buf {
	if n < 0 {
		shapePanic("Alloc", "negative length %d", n)
	}
	c := &cudaBuf{owner: b, n: n, root: true}
	if n == 0 {
		return c
	}
	var err error
	b.do(func() {
		if res := b.l.cuMemAlloc(&c.ptr, uintptr(n)*4); res != 0 {
			err = fmt.Errorf("accel: cuda: cuMemAlloc %d bytes: %s", n*4, b.l.errName(res))
			return
		}
		b.live[c] = true
		b.check("cuMemsetD32", b.l.cuMemsetD32(c.ptr, 0, uintptr(n)))
	})
	if err != nil {
		panic(err)
	}
	return c
}

func (b *cudaBackend) Slice(x Buf, off, n int) Buf {
	c := b.buf(x)
	checkSlice(x, off, n)
	return &cudaBuf{owner: b, ptr: c.ptr + uint64(off)*4, n: n}
}

func (b *cudaBackend) Free(x Buf) {
	c := b.buf(x)
	if !c.root || c.ptr == 0 {
		return
	}
	b.do(func() {
		if b.live[c] {
			delete(b.live, c)
			b.check("cuMemFree", b.l.cuMemFree(c.ptr))
		}
	})
	c.ptr, c.n = 0, 0
}

func (b *cudaBackend) Upload(dst Buf, src []float32) {
	d := b.buf(dst)
	checkLen("Upload", "dst", len(src), dst)
	if len(src) == 0 {
		return
	}
	b.do(func() {
		b.check("cuMemcpyHtoD", b.l.cuMemcpyHtoD(d.ptr, unsafe.Pointer(&src[0]), uintptr(len(src))*4))
	})
}

func (b *cudaBackend) Download(dst []float32, src Buf) {
	s := b.buf(src)
	checkLen("Download", "src", len(dst), src)
	if len(dst) == 0 {
		return
	}
	b.do(func() {
		b.check("cuMemcpyDtoH", b.l.cuMemcpyDtoH(unsafe.Pointer(&dst[0]), s.ptr, uintptr(len(dst))*4))
	})
}

func cublasOp(t bool) int32 {
	if t {
		return 1 // CUBLAS_OP_T
	}
	return 0 // CUBLAS_OP_N
}

// Gemm hands cuBLAS the row-major problem as its column-major transpose:
// a row-major matrix read column-major is its transpose, so
//
//	Cᵀ = alpha·op(B)ᵀ·op(A)ᵀ + beta·Cᵀ
//
// is one column-major Sgemm with A and B swapped and n, m swapped.
func (b *cudaBackend) Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, bb Buf, ldb int, beta float32, c Buf, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, bb, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	pa, pb, pc := b.buf(a).ptr, b.buf(bb).ptr, b.buf(c).ptr
	b.do(func() {
		if res := b.l.cublasSgemm(b.blas, cublasOp(transB), cublasOp(transA), int32(n), int32(m), int32(k),
			&alpha, pb, int32(ldb), pa, int32(lda), &beta, pc, int32(ldc)); res != 0 && b.err == nil {
			b.err = fmt.Errorf("accel: cuda: cublasSgemm: cublasStatus %d", res)
		}
	})
}

// Gemv reads row-major A (m×n) as column-major Aᵀ (n×m), so op flips.
func (b *cudaBackend) Gemv(transA bool, m, n int, alpha float32, a Buf, lda int, x Buf, beta float32, y Buf) {
	checkGemv(transA, m, n, a, lda, x, y)
	pa, px, py := b.buf(a).ptr, b.buf(x).ptr, b.buf(y).ptr
	if m == 0 || n == 0 {
		yn := m
		if transA {
			yn = n
		}
		if yn > 0 {
			b.do(func() {
				if beta == 0 {
					b.check("cuMemsetD32", b.l.cuMemsetD32(py, 0, uintptr(yn)))
				} else {
					b.cublasStatus("cublasSscal", b.l.cublasSscal(b.blas, int32(yn), &beta, py, 1))
				}
			})
		}
		return
	}
	b.do(func() {
		b.cublasStatus("cublasSgemv", b.l.cublasSgemv(b.blas, cublasOp(!transA), int32(n), int32(m), &alpha, pa, int32(lda), px, 1, &beta, py, 1))
	})
}

func (b *cudaBackend) cublasStatus(op string, res int32) {
	if res != 0 && b.err == nil {
		b.err = fmt.Errorf("accel: cuda: %s: cublasStatus %d", op, res)
	}
}

func (b *cudaBackend) Axpy(n int, alpha float32, x, y Buf) {
	checkLen("Axpy", "x", n, x)
	checkLen("Axpy", "y", n, y)
	px, py := b.buf(x).ptr, b.buf(y).ptr
	if n == 0 {
		return
	}
	b.do(func() { b.cublasStatus("cublasSaxpy", b.l.cublasSaxpy(b.blas, int32(n), &alpha, px, 1, py, 1)) })
}

func (b *cudaBackend) Scal(n int, alpha float32, x Buf) {
	checkLen("Scal", "x", n, x)
	px := b.buf(x).ptr
	if n == 0 {
		return
	}
	b.do(func() { b.cublasStatus("cublasSscal", b.l.cublasSscal(b.blas, int32(n), &alpha, px, 1)) })
}

// launch queues kernel name over threads threads (grid-stride kernels cap
// the grid; row kernels need one thread per row). Arguments are uint64
// device pointers, int32 or float32 values. It runs on the CUDA thread.
func (b *cudaBackend) launch(name string, threads int, gridStride bool, args ...any) {
	blocks := (threads + cudaBlock - 1) / cudaBlock
	if gridStride {
		blocks = min(blocks, 65535)
	}
	if blocks == 0 {
		return
	}
	// Each argument lives in its own 8-byte slot; the driver reads as many
	// bytes as the kernel's parameter takes (little-endian).
	vals := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case uint64:
			vals[i] = v
		case int32:
			*(*int32)(unsafe.Pointer(&vals[i])) = v
		case float32:
			*(*float32)(unsafe.Pointer(&vals[i])) = v
		default:
			panic(fmt.Sprintf("accel: cuda: kernel %s: argument %d has type %T", name, i, a))
		}
		params[i] = unsafe.Pointer(&vals[i])
	}
	var pin runtime.Pinner
	pin.Pin(&vals[0])
	pin.Pin(&params[0])
	defer pin.Unpin()
	b.check("cuLaunchKernel "+name, b.l.cuLaunchKernel(b.fns[name], uint32(blocks), 1, 1, cudaBlock, 1, 1, 0, 0, unsafe.Pointer(&params[0]), nil))
}

func (b *cudaBackend) AddBias(m, n int, x, bias Buf) {
	checkRows("AddBias", m, n, x)
	checkLen("AddBias", "bias", n, bias)
	checkInt32("AddBias", m*n)
	px, pb := b.buf(x).ptr, b.buf(bias).ptr
	b.do(func() { b.launch("lb_add_bias", m*n, true, int32(m), int32(n), px, pb) })
}

func (b *cudaBackend) ColSum(m, n int, x, dst Buf) {
	checkRows("ColSum", m, n, x)
	checkLen("ColSum", "dst", n, dst)
	px, pd := b.buf(x).ptr, b.buf(dst).ptr
	b.do(func() { b.launch("lb_colsum", n, false, int32(m), int32(n), px, pd) })
}

func (b *cudaBackend) ReLU(n int, x Buf) {
	checkLen("ReLU", "x", n, x)
	px := b.buf(x).ptr
	b.do(func() { b.launch("lb_relu", n, true, int32(n), px) })
}

func (b *cudaBackend) ReLUGrad(n int, g, y Buf) {
	checkLen("ReLUGrad", "g", n, g)
	checkLen("ReLUGrad", "y", n, y)
	pg, py := b.buf(g).ptr, b.buf(y).ptr
	b.do(func() { b.launch("lb_relu_grad", n, true, int32(n), pg, py) })
}

// scratchFor returns a device scratch buffer of at least n values; it runs
// on the CUDA thread.
func (b *cudaBackend) scratchFor(n int) (uint64, bool) {
	if b.scratch != nil && b.scratch.n >= n {
		return b.scratch.ptr, true
	}
	if b.scratch != nil {
		delete(b.live, b.scratch)
		b.l.cuMemFree(b.scratch.ptr)
		b.scratch = nil
	}
	n = max(n, 1024)
	s := &cudaBuf{owner: b, n: n, root: true}
	if !b.check("cuMemAlloc (scratch)", b.l.cuMemAlloc(&s.ptr, uintptr(n)*4)) {
		return 0, false
	}
	b.live[s] = true
	b.scratch = s
	return s.ptr, true
}

func (b *cudaBackend) SoftmaxXent(m, n int, logits, labels, grad Buf) float64 {
	checkRows("SoftmaxXent", m, n, logits, grad)
	checkLen("SoftmaxXent", "labels", m, labels)
	if n == 0 && m > 0 {
		shapePanic("SoftmaxXent", "no classes")
	}
	checkInt32("SoftmaxXent", m*n)
	pz, pl, pg := b.buf(logits).ptr, b.buf(labels).ptr, b.buf(grad).ptr
	if m == 0 {
		return 0
	}
	losses := make([]float32, m)
	ok := false
	b.do(func() {
		ps, got := b.scratchFor(m)
		if !got {
			return
		}
		b.launch("lb_softmax_xent", m, false, int32(m), int32(n), pz, pl, pg, ps)
		ok = b.check("cuMemcpyDtoH (losses)", b.l.cuMemcpyDtoH(unsafe.Pointer(&losses[0]), ps, uintptr(m)*4))
	})
	if !ok {
		return nan()
	}
	var loss float64
	for _, v := range losses {
		loss += float64(v)
	}
	return loss
}

func (b *cudaBackend) Argmax(m, n int, x, dst Buf) {
	checkRows("Argmax", m, n, x)
	checkLen("Argmax", "dst", m, dst)
	px, pd := b.buf(x).ptr, b.buf(dst).ptr
	if n == 0 {
		return
	}
	b.do(func() { b.launch("lb_argmax", m, false, int32(m), int32(n), px, pd) })
}

func (b *cudaBackend) ApplyMask(n int, x, mask Buf) {
	checkLen("ApplyMask", "x", n, x)
	checkLen("ApplyMask", "mask", n, mask)
	px, pm := b.buf(x).ptr, b.buf(mask).ptr
	b.do(func() { b.launch("lb_apply_mask", n, true, int32(n), px, pm) })
}

// Threshold returns −1 if the device failed (Sync reports why).
func (b *cudaBackend) Threshold(n int, x Buf, t float32, mask Buf) int {
	checkLen("Threshold", "x", n, x)
	checkLen("Threshold", "mask", n, mask)
	px, pm := b.buf(x).ptr, b.buf(mask).ptr
	if n == 0 {
		return 0
	}
	var count uint64
	ok := false
	b.do(func() {
		pc, got := b.scratchFor(2)
		if !got || !b.check("cuMemsetD32", b.l.cuMemsetD32(pc, 0, 2)) {
			return
		}
		b.launch("lb_threshold", n, true, int32(n), px, t, pm, pc)
		ok = b.check("cuMemcpyDtoH (count)", b.l.cuMemcpyDtoH(unsafe.Pointer(&count), pc, 8))
	})
	if !ok {
		return -1
	}
	return int(count)
}

func (b *cudaBackend) FakeQuant(n int, x Buf, scale float32, qmin, qmax int) {
	checkQuant(n, x, scale, qmin, qmax)
	px := b.buf(x).ptr
	b.do(func() { b.launch("lb_fakequant", n, true, int32(n), px, scale, float32(qmin), float32(qmax)) })
}

// Sync waits for the device and returns (and clears) the first error
// since the last Sync.
func (b *cudaBackend) Sync() error {
	var err error
	b.do(func() {
		b.check("cuCtxSynchronize", b.l.cuCtxSynchronize())
		err, b.err = b.err, nil
	})
	return err
}

func (b *cudaBackend) Close() error {
	err := b.Sync()
	b.do(b.release)
	close(b.calls)
	return err
}

// cudaMatrix is a compressed weight matrix in device memory.
type cudaMatrix struct {
	owner      *cudaBackend
	rows, cols int
	csr        bool
	parts      []*cudaBuf // CSR: rowPtr, colIdx, values; int8: q, scales
	bytes      int
}

func (a *cudaMatrix) Rows() int  { return a.rows }
func (a *cudaMatrix) Cols() int  { return a.cols }
func (a *cudaMatrix) Bytes() int { return a.bytes }

// bytesOf views s as its bytes, for copies to the device.
func bytesOf[T int8 | int32 | float32](s []T) []byte {
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

// uploadParts copies each host array into its own device allocation and
// appends them to a.parts. It panics if the device is out of memory,
// as Alloc does, freeing what it allocated.
func (b *cudaBackend) uploadParts(a *cudaMatrix, op string, parts ...[]byte) {
	var err error
	b.do(func() {
		for _, p := range parts {
			d := &cudaBuf{owner: b, n: (len(p) + 3) / 4, root: true}
			a.parts = append(a.parts, d)
			a.bytes += len(p)
			if len(p) == 0 {
				continue
			}
			if res := b.l.cuMemAlloc(&d.ptr, uintptr(len(p))); res != 0 {
				err = fmt.Errorf("accel: cuda: %s: cuMemAlloc %d bytes: %s", op, len(p), b.l.errName(res))
				break
			}
			b.live[d] = true
			b.check("cuMemcpyHtoD", b.l.cuMemcpyHtoD(d.ptr, unsafe.Pointer(&p[0]), uintptr(len(p))))
		}
		if err != nil {
			b.freeParts(a)
		}
	})
	if err != nil {
		panic(err)
	}
}

// freeParts frees a's device memory, leaving null pointers behind; it runs
// on the CUDA thread.
func (b *cudaBackend) freeParts(a *cudaMatrix) {
	for _, d := range a.parts {
		if b.live[d] {
			delete(b.live, d)
			b.check("cuMemFree", b.l.cuMemFree(d.ptr))
		}
		d.ptr, d.n = 0, 0
	}
	a.bytes = 0
}

func (b *cudaBackend) UploadCSR(rows, cols int, rowPtr, colIdx []int32, values []float32) Matrix {
	checkCSR(rows, cols, rowPtr, colIdx, values)
	a := &cudaMatrix{owner: b, rows: rows, cols: cols, csr: true}
	b.uploadParts(a, "UploadCSR", bytesOf(rowPtr), bytesOf(colIdx), bytesOf(values))
	return a
}

func (b *cudaBackend) UploadInt8(rows, cols int, q []int8, scales []float32) Matrix {
	checkInt8(rows, cols, q, scales)
	a := &cudaMatrix{owner: b, rows: rows, cols: cols}
	b.uploadParts(a, "UploadInt8", bytesOf(q), bytesOf(scales))
	return a
}

// FreeMatrix frees a's device memory; using a afterwards is an error that
// Sync reports, as for a freed Buf.
func (b *cudaBackend) FreeMatrix(a Matrix) {
	d, ok := a.(*cudaMatrix)
	if !ok || d.owner != b {
		panic(fmt.Errorf("%w: FreeMatrix: %T is not a matrix of this cuda backend", ErrForeignBuf, a))
	}
	b.do(func() { b.freeParts(d) })
}

// matrix returns a as this backend's CSR matrix (csr) or int8 matrix.
func (b *cudaBackend) matrix(op string, a Matrix, csr bool) *cudaMatrix {
	d, ok := a.(*cudaMatrix)
	if !ok || d.owner != b || d.csr != csr {
		kind := "an int8"
		if csr {
			kind = "a CSR"
		}
		panic(fmt.Errorf("%w: %s: %T is not %s matrix of this cuda backend", ErrForeignBuf, op, a, kind))
	}
	return d
}

func (b *cudaBackend) GemmCSR(m int, x Buf, ldx int, a Matrix, beta float32, c Buf, ldc int) {
	checkGemmT("GemmCSR", m, x, ldx, a, c, ldc)
	d := b.matrix("GemmCSR", a, true)
	px, pc := b.buf(x).ptr, b.buf(c).ptr
	n := d.rows
	checkInt32("GemmCSR", m*n)
	if m == 0 || n == 0 {
		return
	}
	b.do(func() {
		b.launch("lb_csr_xat", m*n, true, int32(m), int32(n), px, int32(ldx),
			d.parts[0].ptr, d.parts[1].ptr, d.parts[2].ptr, beta, pc, int32(ldc))
	})
}

func (b *cudaBackend) GemmInt8(m int, x Buf, ldx int, a Matrix, beta float32, c Buf, ldc int) {
	checkGemmT("GemmInt8", m, x, ldx, a, c, ldc)
	d := b.matrix("GemmInt8", a, false)
	px, pc := b.buf(x).ptr, b.buf(c).ptr
	n, k := d.rows, d.cols
	checkInt32("GemmInt8", m*n, n*k)
	if m == 0 || n == 0 {
		return
	}
	b.do(func() {
		b.launch("lb_int8_xat", m*n, true, int32(m), int32(n), int32(k), px, int32(ldx),
			d.parts[0].ptr, d.parts[1].ptr, beta, pc, int32(ldc))
	})
}
