// This file loads the CUDA driver, cuBLAS and NVRTC with purego: the
// symbol table (cudaLib), the library search and dlopen, and CUresult
// names. The backend that uses them is in cuda.go.

package accel

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cudaLib holds the CUDA driver, cuBLAS and NVRTC entry points, loaded once
// per process with purego (no cgo, no CUDA headers).
type cudaLib struct {
	detail string

	// Driver API (libcuda.so.1).
	cuInit                   func(flags uint32) int32
	cuDriverGetVersion       func(v *int32) int32
	cuDeviceGetCount         func(n *int32) int32
	cuDeviceGet              func(dev *int32, ordinal int32) int32
	cuDeviceGetName          func(name *byte, n int32, dev int32) int32
	cuDeviceGetAttribute     func(v *int32, attr int32, dev int32) int32
	cuDevicePrimaryCtxRetain func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRel    func(dev int32) int32
	cuCtxSetCurrent          func(ctx uintptr) int32
	cuCtxSynchronize         func() int32
	cuMemAlloc               func(p *uint64, bytes uintptr) int32
	cuMemFree                func(p uint64) int32
	cuMemsetD32              func(p uint64, v uint32, n uintptr) int32
	cuMemcpyHtoD             func(dst uint64, src unsafe.Pointer, bytes uintptr) int32
	cuMemcpyDtoH             func(dst unsafe.Pointer, src uint64, bytes uintptr) int32
	cuModuleLoadData         func(mod *uintptr, image unsafe.Pointer) int32
	cuModuleUnload           func(mod uintptr) int32
	cuModuleGetFunction      func(fn *uintptr, mod uintptr, name string) int32
	cuLaunchKernel           func(fn uintptr, gx, gy, gz, bx, by, bz, shmem uint32, stream uintptr, params, extra unsafe.Pointer) int32
	cuGetErrorName           func(res int32, s **byte) int32

	// cuBLAS (libcublas.so.13 or .12), column-major.
	cublasCreate      func(h *uintptr) int32
	cublasDestroy     func(h uintptr) int32
	cublasGetVersion  func(h uintptr, v *int32) int32
	cublasSetMathMode func(h uintptr, mode int32) int32
	cublasSgemm       func(h uintptr, ta, tb, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32, beta *float32, c uint64, ldc int32) int32
	cublasSgemv       func(h uintptr, t, m, n int32, alpha *float32, a uint64, lda int32, x uint64, incx int32, beta *float32, y uint64, incy int32) int32
	cublasSaxpy       func(h uintptr, n int32, alpha *float32, x uint64, incx int32, y uint64, incy int32) int32
	cublasSscal       func(h uintptr, n int32, alpha *float32, x uint64, incx int32) int32

	// NVRTC (libnvrtc.so.13 or .12).
	nvrtcVersion           func(major, minor *int32) int32
	nvrtcCreateProgram     func(prog *uintptr, src, name string, nh int32, headers, names unsafe.Pointer) int32
	nvrtcCompileProgram    func(prog uintptr, nopt int32, opts unsafe.Pointer) int32
	nvrtcGetProgramLogSize func(prog uintptr, n *uintptr) int32
	nvrtcGetProgramLog     func(prog uintptr, log *byte) int32
	nvrtcGetCUBINSize      func(prog uintptr, n *uintptr) int32
	nvrtcGetCUBIN          func(prog uintptr, cubin *byte) int32
	nvrtcDestroyProgram    func(prog *uintptr) int32
	nvrtcGetErrorString    func(res int32) string
}

var (
	cudaOnce    sync.Once
	cudaLoaded  *cudaLib
	cudaLoadErr error
)

// cudaLibDirs are searched after the dynamic loader's own path (which
// LD_LIBRARY_PATH extends) for cuBLAS and NVRTC.
var cudaLibDirs = []string{"/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}

func openFirst(what string, names []string) (uintptr, string, error) {
	var tried []string
	var first error
	for _, name := range names {
		for _, p := range append([]string{name}, dirsJoin(name)...) {
			h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err == nil {
				return h, p, nil
			}
			if first == nil {
				first = err
			}
		}
		tried = append(tried, name)
	}
	return 0, "", fmt.Errorf("accel: cuda: %s not found (tried %s in the loader path, LD_LIBRARY_PATH and %s): %v",
		what, strings.Join(tried, ", "), strings.Join(cudaLibDirs, ", "), first)
}

func dirsJoin(name string) []string {
	var ps []string
	for _, d := range cudaLibDirs {
		ps = append(ps, filepath.Join(d, name))
	}
	return ps
}

func loadCUDA() (*cudaLib, error) {
	cudaOnce.Do(func() { cudaLoaded, cudaLoadErr = loadCUDAOnce() })
	return cudaLoaded, cudaLoadErr
}

func loadCUDAOnce() (*cudaLib, error) {
	drv, err := purego.Dlopen("libcuda.so.1", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("accel: cuda: libcuda.so.1 not found: no NVIDIA driver (%v)", err)
	}
	cublas, cublasPath, err := openFirst("cuBLAS", []string{"libcublas.so.13", "libcublas.so.12"})
	if err != nil {
		return nil, err
	}
	nvrtc, nvrtcPath, err := openFirst("NVRTC", []string{"libnvrtc.so.13", "libnvrtc.so.12"})
	if err != nil {
		return nil, err
	}
	l := &cudaLib{}
	binds := []struct {
		lib  uintptr
		name string
		fn   any
	}{
		{drv, "cuInit", &l.cuInit},
		{drv, "cuDriverGetVersion", &l.cuDriverGetVersion},
		{drv, "cuDeviceGetCount", &l.cuDeviceGetCount},
		{drv, "cuDeviceGet", &l.cuDeviceGet},
		{drv, "cuDeviceGetName", &l.cuDeviceGetName},
		{drv, "cuDeviceGetAttribute", &l.cuDeviceGetAttribute},
		{drv, "cuDevicePrimaryCtxRetain", &l.cuDevicePrimaryCtxRetain},
		{drv, "cuDevicePrimaryCtxRelease_v2", &l.cuDevicePrimaryCtxRel},
		{drv, "cuCtxSetCurrent", &l.cuCtxSetCurrent},
		{drv, "cuCtxSynchronize", &l.cuCtxSynchronize},
		{drv, "cuMemAlloc_v2", &l.cuMemAlloc},
		{drv, "cuMemFree_v2", &l.cuMemFree},
		{drv, "cuMemsetD32_v2", &l.cuMemsetD32},
		{drv, "cuMemcpyHtoD_v2", &l.cuMemcpyHtoD},
		{drv, "cuMemcpyDtoH_v2", &l.cuMemcpyDtoH},
		{drv, "cuModuleLoadData", &l.cuModuleLoadData},
		{drv, "cuModuleUnload", &l.cuModuleUnload},
		{drv, "cuModuleGetFunction", &l.cuModuleGetFunction},
		{drv, "cuLaunchKernel", &l.cuLaunchKernel},
		{drv, "cuGetErrorName", &l.cuGetErrorName},
		{cublas, "cublasCreate_v2", &l.cublasCreate},
		{cublas, "cublasDestroy_v2", &l.cublasDestroy},
		{cublas, "cublasGetVersion_v2", &l.cublasGetVersion},
		{cublas, "cublasSetMathMode", &l.cublasSetMathMode},
		{cublas, "cublasSgemm_v2", &l.cublasSgemm},
		{cublas, "cublasSgemv_v2", &l.cublasSgemv},
		{cublas, "cublasSaxpy_v2", &l.cublasSaxpy},
		{cublas, "cublasSscal_v2", &l.cublasSscal},
		{nvrtc, "nvrtcVersion", &l.nvrtcVersion},
		{nvrtc, "nvrtcCreateProgram", &l.nvrtcCreateProgram},
		{nvrtc, "nvrtcCompileProgram", &l.nvrtcCompileProgram},
		{nvrtc, "nvrtcGetProgramLogSize", &l.nvrtcGetProgramLogSize},
		{nvrtc, "nvrtcGetProgramLog", &l.nvrtcGetProgramLog},
		{nvrtc, "nvrtcGetCUBINSize", &l.nvrtcGetCUBINSize},
		{nvrtc, "nvrtcGetCUBIN", &l.nvrtcGetCUBIN},
		{nvrtc, "nvrtcDestroyProgram", &l.nvrtcDestroyProgram},
		{nvrtc, "nvrtcGetErrorString", &l.nvrtcGetErrorString},
	}
	for _, b := range binds {
		if err := bind(b.lib, b.name, b.fn); err != nil {
			return nil, fmt.Errorf("accel: cuda: %w", err)
		}
	}
	l.detail = "cuBLAS " + cublasPath + ", NVRTC " + nvrtcPath
	return l, nil
}

// errName turns a CUresult into its name, e.g. CUDA_ERROR_OUT_OF_MEMORY.
func (l *cudaLib) errName(res int32) string {
	var s *byte
	if l.cuGetErrorName(res, &s) != 0 || s == nil {
		return fmt.Sprintf("CUresult %d", res)
	}
	var b []byte
	for p := unsafe.Pointer(s); *(*byte)(p) != 0; p = unsafe.Add(p, 1) {
		b = append(b, *(*byte)(p))
	}
	return string(b)
}
