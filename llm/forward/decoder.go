package forward

import (
	"fmt"
	"math"
	"sync"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
)

// buf is a backend buffer with its host copy: the same memory on the go
// and blas backends, a shadow slice pulled and pushed around the host
// steps on a GPU.
type buf struct {
	b   accel.Buf
	h   []float32
	dev bool
}

// Runner runs the forward pass of one model on one backend, for windows
// of at most Ctx tokens. Its buffers are reused from window to window; a
// Runner is not safe for concurrent use.
type Runner struct {
	m   *Model
	be  accel.Backend
	Ctx int

	out      *buf // the output matrix (vocab × embd): output.weight or the tied embeddings
	emb      []float32
	w        map[string]*buf // one layer's matrices, decoded, by their name without "blk.N."
	wt       map[string]gguf.Type
	outType  gguf.Type
	act      *buf // a product's input as llama.cpp rounds it for the weight's type
	x, h     *buf // T × embd: the residual stream, a normed copy or a product
	q, k, v  *buf // T × heads·dim, T × kv-heads·dim (two)
	att      *buf // T × heads·dim
	scores   *buf // T × T
	g, u     *buf // T × ff
	logits   *buf // T × vocab
	split    int  // > 1: gemm cuts its products into this many one-threaded calls
	vec      map[string][]float32
	cos, sin []float64     // T × rope dims/2
	mins     map[*buf]*buf // block mins of the Q4_1/Q5_1 weights (activations.go)
	sums     *buf
}

// NewRunner decodes the model's embeddings and output matrix onto be and
// allocates the buffers of a window of ctx tokens.
func NewRunner(m *Model, be accel.Backend, ctx int) (*Runner, error) {
	if m.IsEncoder() {
		return nil, fmt.Errorf("forward: %s is an encoder (%s): it gives embeddings (NewEmbedder), not next-token logits", m.Path, m.Arch)
	}
	r := &Runner{m: m, be: be, Ctx: ctx, w: map[string]*buf{}, wt: map[string]gguf.Type{}, vec: map[string][]float32{}}
	E, Q, KV := m.Embd, m.Heads*m.HeadDim, m.HeadsKV*m.HeadDim
	emb, err := m.decode("token_embd.weight", make([]float32, m.Vocab*E))
	if err != nil {
		return nil, err
	}
	r.emb = emb
	r.out = r.alloc(m.Vocab * E)
	src := emb
	r.outType = m.tensors["token_embd.weight"].typ
	if m.has("output.weight") {
		r.outType = m.tensors["output.weight"].typ
		if src, err = m.decode("output.weight", make([]float32, m.Vocab*E)); err != nil {
			return nil, err
		}
	}
	copy(r.out.h, src)
	r.push(r.out)
	if m.has("output.weight") {
		r.setMins(r.out, r.outType, m.tensors["output.weight"].data)
	} else {
		r.setMins(r.out, r.outType, m.tensors["token_embd.weight"].data)
	}
	for name, n := range map[string]int{"attn_q": Q * E, "attn_k": KV * E, "attn_v": KV * E, "attn_output": E * Q,
		"ffn_gate": m.FF * E, "ffn_up": m.FF * E, "ffn_down": E * m.FF} {
		r.w[name] = r.alloc(n)
	}
	r.x, r.h = r.alloc(ctx*E), r.alloc(ctx*E)
	r.q, r.k, r.v, r.att = r.alloc(ctx*Q), r.alloc(ctx*KV), r.alloc(ctx*KV), r.alloc(ctx*Q)
	r.scores = r.alloc(ctx * ctx)
	r.g, r.u = r.alloc(ctx*m.FF), r.alloc(ctx*m.FF)
	r.logits = r.alloc(ctx * m.Vocab)
	r.act = r.alloc(ctx * max(E, Q, m.FF))
	r.rope(ctx)
	if c, ok := be.(accel.Concurrent); ok {
		r.split = c.SetThreads(0) // the threads a call would use (0: the backend does not count them)
	}
	return r, nil
}

func (r *Runner) alloc(n int) *buf {
	b := r.be.Alloc(n)
	if h := accel.HostView(b); h != nil {
		return &buf{b: b, h: h}
	}
	return &buf{b: b, h: make([]float32, n), dev: true}
}

func (r *Runner) push(bs ...*buf) {
	for _, b := range bs {
		if b.dev {
			r.be.Upload(b.b, b.h)
		}
	}
}

func (r *Runner) pull(bs ...*buf) {
	for _, b := range bs {
		if b.dev {
			r.be.Download(b.h, b.b)
		}
	}
}

// rope fills the rotation angles' cosines and sines for positions
// 0..ctx−1: θ = pos · base^(−2i/dims), divided by rope_freqs[i] where the
// model has them (Llama 3's scaling).
func (r *Runner) rope(ctx int) {
	half := r.m.RopeDims / 2
	r.cos, r.sin = make([]float64, ctx*half), make([]float64, ctx*half)
	for i := range half {
		f := math.Pow(r.m.RopeBase, -2*float64(i)/float64(r.m.RopeDims))
		if r.m.FreqScale != nil {
			f /= float64(r.m.FreqScale[i])
		}
		for p := range ctx {
			r.cos[p*half+i], r.sin[p*half+i] = math.Cos(float64(p)*f), math.Sin(float64(p)*f)
		}
	}
}

// vector returns the small tensor name (a norm or a bias) as float32,
// decoded once; nil if the model has none.
func (r *Runner) vector(name string) ([]float32, error) {
	if v, ok := r.vec[name]; ok {
		return v, nil
	}
	t := r.m.tensors[name]
	if t == nil {
		r.vec[name] = nil
		return nil, nil
	}
	v, err := r.m.decode(name, make([]float32, t.elems()))
	r.vec[name] = v
	return v, err
}

// gemm computes c = a·bᵀ (a·b if !transB) for a of m×k rows (stride
// lda), b of n×k (ldb; k×n if !transB) and c of m×n (ldc), views from
// off. With r.split > 1 the columns of c are cut into that many parts,
// each a one-threaded call on its own goroutine: the same sums (a column's
// dot products do not depend on the cut), and on a loaded machine the Go
// scheduler shares the cores where a threaded BLAS's spinning barriers
// stall (a window of SmolLM2 took 37 s with BLIS on two threads at a load
// of 10, 7 s on one).
func (r *Runner) gemm(m, n, k int, alpha float32, a *buf, aOff, lda int, b *buf, bOff, ldb int, c *buf, cOff, ldc int, transB bool) {
	if parts := min(r.split, n/64); parts > 1 {
		var wg sync.WaitGroup
		for p := range parts {
			lo, hi := n*p/parts/16*16, n*(p+1)/parts/16*16
			if p == parts-1 {
				hi = n
			}
			bo := bOff + lo*ldb
			if !transB {
				bo = bOff + lo
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.gemm1(m, hi-lo, k, alpha, a, aOff, lda, b, bo, ldb, c, cOff+lo, ldc, transB)
			}()
		}
		wg.Wait()
		return
	}
	r.gemm1(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, transB)
}

// gemm1 is gemm in one backend call.
func (r *Runner) gemm1(m, n, k int, alpha float32, a *buf, aOff, lda int, b *buf, bOff, ldb int, c *buf, cOff, ldc int, transB bool) {
	av := r.be.Slice(a.b, aOff, (m-1)*lda+k)
	bn := (n-1)*ldb + k
	if !transB {
		bn = (k-1)*ldb + n
	}
	bv := r.be.Slice(b.b, bOff, bn)
	cv := r.be.Slice(c.b, cOff, (m-1)*ldc+n)
	r.be.Gemm(false, transB, m, n, k, alpha, av, lda, bv, ldb, 0, cv, ldc)
}

// Logits runs the model on tokens (at most Ctx) and returns the logits of
// positions first … len(tokens)−1, a row of Vocab values each, valid until
// the next call. (Scoring needs the second half only: the output product,
// the largest, is done for those rows alone.)
func (r *Runner) Logits(tokens []int32, first int) ([]float32, error) {
	m := r.m
	T, E, Q, KV, D := len(tokens), m.Embd, m.Heads*m.HeadDim, m.HeadsKV*m.HeadDim, m.HeadDim
	if T > r.Ctx || T == 0 || first < 0 || first >= T {
		return nil, fmt.Errorf("forward: %d tokens (logits from %d) for a window of %d", T, first, r.Ctx)
	}
	for t, id := range tokens {
		if id < 0 || int(id) >= m.Vocab {
			return nil, fmt.Errorf("forward: token %d at %d is outside the vocabulary of %d", id, t, m.Vocab)
		}
		copy(r.x.h[t*E:(t+1)*E], r.emb[int(id)*E:(int(id)+1)*E])
	}
	r.push(r.x)
	if r.split > 1 {
		c := r.be.(accel.Concurrent)
		defer c.SetThreads(c.SetThreads(1))
	}
	scale := float32(1 / math.Sqrt(float64(D)))
	for l := range m.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		if err := r.loadLayer(p); err != nil {
			return nil, err
		}
		// Attention.
		if err := r.norm(T, p+"attn_norm.weight"); err != nil {
			return nil, err
		}
		r.product(T, E, r.h, "attn_q", r.q)
		r.product(T, E, r.h, "attn_k", r.k)
		r.product(T, E, r.h, "attn_v", r.v)
		r.pull(r.q, r.k, r.v)
		for _, qk := range []struct {
			b     *buf
			width int
			name  string
		}{{r.q, Q, "q"}, {r.k, KV, "k"}, {r.v, KV, "v"}} {
			bias, err := r.vector(p + "attn_" + qk.name + ".bias")
			if err != nil {
				return nil, err
			}
			if bias != nil {
				for t := range T {
					row := qk.b.h[t*qk.width : (t+1)*qk.width]
					for i := range row {
						row[i] += bias[i]
					}
				}
			}
			if qk.name == "v" {
				continue
			}
			hn, err := r.vector(p + "attn_" + qk.name + "_norm.weight")
			if err != nil {
				return nil, err
			}
			for t := range T {
				row := qk.b.h[t*qk.width : (t+1)*qk.width]
				for h := 0; h < qk.width; h += D {
					if hn != nil {
						rmsNorm(row[h:h+D], row[h:h+D], hn, m.Eps)
					}
					r.rotate(row[h:h+D], t)
				}
			}
		}
		r.push(r.q, r.k, r.v)
		group := m.Heads / m.HeadsKV
		for h := range m.Heads {
			kvh := h / group
			r.gemm(T, T, D, scale, r.q, h*D, Q, r.k, kvh*D, KV, r.scores, 0, T, true)
			r.pull(r.scores)
			for t := range T {
				softmaxCausal(r.scores.h[t*T:(t+1)*T], t)
			}
			r.push(r.scores)
			r.gemm(T, D, T, 1, r.scores, 0, T, r.v, kvh*D, KV, r.att, h*D, Q, false)
		}
		r.product(T, Q, r.att, "attn_output", r.h)
		r.be.Axpy(T*E, 1, r.h.b, r.x.b)

		// Feed-forward: down(silu(gate) · up).
		if err := r.norm(T, p+"ffn_norm.weight"); err != nil {
			return nil, err
		}
		r.product(T, E, r.h, "ffn_gate", r.g)
		r.product(T, E, r.h, "ffn_up", r.u)
		r.pull(r.g, r.u)
		for i, g := range r.g.h[:T*m.FF] {
			r.g.h[i] = g / (1 + float32(math.Exp(float64(-g)))) * r.u.h[i]
		}
		r.push(r.g)
		r.product(T, m.FF, r.g, "ffn_down", r.h)
		r.be.Axpy(T*E, 1, r.h.b, r.x.b)
	}
	if err := r.norm(T, "output_norm.weight"); err != nil {
		return nil, err
	}
	n := T - first
	r.pull(r.h)
	copy(r.h.h, r.h.h[first*E:T*E])
	r.push(r.h)
	r.gemmRounded(n, m.Vocab, E, r.h, r.out, r.outType, r.logits)
	r.pull(r.logits)
	return r.logits.h[:n*m.Vocab], nil
}

// loadLayer decodes layer p's matrices onto the backend.
func (r *Runner) loadLayer(p string) error {
	for name, b := range r.w {
		if _, err := r.m.decode(p+name+".weight", b.h); err != nil {
			return err
		}
		t := r.m.tensors[p+name+".weight"]
		r.wt[name] = t.typ
		r.push(b)
		r.setMins(b, t.typ, t.data)
	}
	return nil
}

// product sets out (T × the weight's rows) = in · Wᵀ for in of T rows of
// k values and the layer's matrix name.
func (r *Runner) product(T, k int, in *buf, name string, out *buf) {
	w := r.w[name]
	r.gemmRounded(T, w.b.Len()/k, k, in, w, r.wt[name], out)
}

// gemmRounded sets out = in · wᵀ (T×n, in T×k, w n×k), in rounded first as
// llama.cpp rounds a product's input for a weight of type t.
func (r *Runner) gemmRounded(T, n, k int, in, w *buf, t gguf.Type, out *buf) {
	a := in
	r.pull(in)
	if roundActivations(r.act.h[:T*k], in.h[:T*k], t) {
		r.push(r.act)
		a = r.act
	}
	r.gemm(T, n, k, 1, a, 0, k, w, 0, k, out, 0, n, true)
	if mins := r.mins[w]; mins != nil {
		r.addMinTerm(T, n, k, in, mins, out)
	}
}

// norm sets h to x's T rows RMS-normed and scaled by the weight name.
func (r *Runner) norm(T int, name string) error {
	w, err := r.vector(name)
	if err != nil {
		return err
	}
	E := r.m.Embd
	r.pull(r.x)
	for t := range T {
		rmsNorm(r.h.h[t*E:(t+1)*E], r.x.h[t*E:(t+1)*E], w, r.m.Eps)
	}
	r.push(r.h)
	return nil
}

// rmsNorm sets dst = x / √(mean x² + eps) · w, the sum in float64 as
// ggml's rms_norm.
func rmsNorm(dst, x, w []float32, eps float64) {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	k := float32(1 / math.Sqrt(s/float64(len(x))+eps))
	for i, v := range x {
		dst[i] = v * k * w[i]
	}
}

// rotate applies the rotary embedding of position pos to one head's
// vector: pairs (2i, 2i+1) for llama, (i, i+dims/2) for NeoX-style
// models (Qwen), over the first RopeDims values.
func (r *Runner) rotate(x []float32, pos int) {
	half := r.m.RopeDims / 2
	cs, sn := r.cos[pos*half:(pos+1)*half], r.sin[pos*half:(pos+1)*half]
	for i := range half {
		a, b := 2*i, 2*i+1
		if r.m.RopeNeox {
			a, b = i, i+half
		}
		x0, x1 := float64(x[a]), float64(x[b])
		x[a] = float32(x0*cs[i] - x1*sn[i])
		x[b] = float32(x0*sn[i] + x1*cs[i])
	}
}

// softmaxCausal turns row t of the attention scores into weights over
// positions 0..t (the rest 0).
func softmaxCausal(row []float32, t int) {
	mx := row[0]
	for _, v := range row[1 : t+1] {
		mx = max(mx, v)
	}
	var s float64
	for i := range row[:t+1] {
		e := math.Exp(float64(row[i] - mx))
		row[i] = float32(e)
		s += e
	}
	k := float32(1 / s)
	for i := range row[:t+1] {
		row[i] *= k
	}
	clear(row[t+1:])
}
