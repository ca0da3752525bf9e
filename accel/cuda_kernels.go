package accel

// cudaKernelNames are the kernels in cudaKernelSource, in launch order.
var cudaKernelNames = []string{
	"lb_add_bias", "lb_colsum", "lb_relu", "lb_relu_grad", "lb_softmax_xent",
	"lb_argmax", "lb_apply_mask", "lb_threshold", "lb_fakequant",
	"lb_csr_xat", "lb_int8_xat",
}

// cudaKernelSource holds the elementwise and row kernels, compiled once per
// process by NVRTC. Elementwise kernels use grid-stride loops so any grid
// covers any n; row kernels run one thread per row (or column), which is
// plenty for the narrow rows (≤ a few thousand classes) they see. Every
// launch uses cudaBlock threads per block (the threshold reduction relies on
// it being a power of two). The compressed-weight products (lb_csr_xat,
// lb_int8_xat) run one thread per output C[i,j], j fastest, so a warp shares
// one row of X (cached) and reads neighbouring rows of A.
const cudaKernelSource = `
#define LB_BLOCK 256

extern "C" __global__ void lb_add_bias(int m, int n, float* x, const float* bias) {
	long long total = (long long)m * n;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)blockDim.x * gridDim.x) {
		x[i] += bias[i % n];
	}
}

extern "C" __global__ void lb_colsum(int m, int n, const float* x, float* dst) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= n) return;
	float s = 0.0f;
	for (int i = 0; i < m; i++) s += x[(long long)i * n + j];
	dst[j] = s;
}

extern "C" __global__ void lb_relu(int n, float* x) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
		float v = x[i];
		x[i] = v > 0.0f ? v : 0.0f;
	}
}

extern "C" __global__ void lb_relu_grad(int n, float* g, const float* y) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
		if (y[i] <= 0.0f) g[i] = 0.0f;
	}
}

// One thread per row; loss[i] gets the row's cross-entropy, NaN for a
// label that names no class. grad may alias logits: every z[j] is read
// before g[j] is written.
extern "C" __global__ void lb_softmax_xent(int m, int n, const float* logits, const float* labels, float* grad, float* loss) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= m) return;
	const float* z = logits + (long long)i * n;
	float* g = grad + (long long)i * n;
	float mx = z[0];
	for (int j = 1; j < n; j++) mx = fmaxf(mx, z[j]);
	float sum = 0.0f;
	for (int j = 0; j < n; j++) sum += expf(z[j] - mx);
	float lab = labels[i];
	int y = -1;
	if (lab >= 0.0f && lab < (float)n && lab == floorf(lab)) y = (int)lab;
	loss[i] = y >= 0 ? logf(sum) - (z[y] - mx) : __int_as_float(0x7fc00000);
	for (int j = 0; j < n; j++) {
		float p = expf(z[j] - mx) / sum;
		g[j] = j == y ? p - 1.0f : p;
	}
}

extern "C" __global__ void lb_argmax(int m, int n, const float* x, float* dst) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= m) return;
	const float* row = x + (long long)i * n;
	int best = 0;
	for (int j = 1; j < n; j++) {
		if (row[j] > row[best]) best = j;
	}
	dst[i] = (float)best;
}

extern "C" __global__ void lb_apply_mask(int n, float* x, const float* mask) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
		x[i] *= mask[i];
	}
}

extern "C" __global__ void lb_threshold(int n, const float* x, float t, float* mask, unsigned long long* count) {
	__shared__ unsigned int part[LB_BLOCK];
	unsigned int c = 0;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
		float keep = fabsf(x[i]) >= t ? 1.0f : 0.0f;
		mask[i] = keep;
		c += keep > 0.0f;
	}
	part[threadIdx.x] = c;
	__syncthreads();
	for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
		__syncthreads();
	}
	if (threadIdx.x == 0 && part[0] > 0) atomicAdd(count, (unsigned long long)part[0]);
}

extern "C" __global__ void lb_fakequant(int n, float* x, float scale, float qmin, float qmax) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x) {
		float q = roundf(x[i] / scale);
		x[i] = fminf(fmaxf(q, qmin), qmax) * scale;
	}
}

// C = X·Aᵀ + beta·C for A (n×k) in CSR form: one thread per C[i,j] sums
// A's row j against X's row i. C is not read when beta is 0.
extern "C" __global__ void lb_csr_xat(int m, int n, const float* x, int ldx, const int* rowPtr, const int* colIdx,
		const float* vals, float beta, float* c, int ldc) {
	long long total = (long long)m * n;
	for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (long long)blockDim.x * gridDim.x) {
		int i = (int)(t / n), j = (int)(t % n);
		const float* xi = x + (long long)i * ldx;
		float s = 0.0f;
		for (int p = rowPtr[j]; p < rowPtr[j + 1]; p++) s += vals[p] * xi[colIdx[p]];
		float* cij = c + (long long)i * ldc + j;
		*cij = beta == 0.0f ? s : s + beta * *cij;
	}
}

// C = X·(diag(scale)·Q)ᵀ + beta·C for int8 Q (n×k): one thread per C[i,j]
// dequantizes A's row j as it goes. C is not read when beta is 0.
extern "C" __global__ void lb_int8_xat(int m, int n, int k, const float* x, int ldx, const signed char* q,
		const float* scale, float beta, float* c, int ldc) {
	long long total = (long long)m * n;
	for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (long long)blockDim.x * gridDim.x) {
		int i = (int)(t / n), j = (int)(t % n);
		const float* xi = x + (long long)i * ldx;
		const signed char* qj = q + (long long)j * k;
		float s = 0.0f;
		for (int l = 0; l < k; l++) s += xi[l] * (float)qj[l];
		s *= scale[j];
		float* cij = c + (long long)i * ldc + j;
		*cij = beta == 0.0f ? s : s + beta * *cij;
	}
}
`
