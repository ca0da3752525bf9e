package forward

import (
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/internal/half"
)

// Pooling types, as llama.cpp numbers them ({arch}.pooling_type).
const (
	PoolMean = 1 // the mean of the last layer's rows
	PoolCLS  = 2 // the first row (the [CLS] token's)
)

// IsEncoder reports whether the model is an encoder (bert), which gives
// embeddings (Embedder) rather than next-token logits (Runner).
func (m *Model) IsEncoder() bool { return m.Arch == "bert" }

// checkBert is check for an encoder: the tensors of llama.cpp's BERT
// graph, with the shapes the hyper-parameters give.
func (m *Model) checkBert() error {
	emb := m.tensors["token_embd.weight"]
	if emb == nil || len(emb.shape) != 2 || int(emb.shape[1]) != m.Embd {
		return fmt.Errorf("no token_embd.weight of %d columns", m.Embd)
	}
	m.Vocab = int(emb.shape[0])
	if m.Heads*m.HeadDim != m.Embd {
		return fmt.Errorf("%d heads of %d do not make the embedding of %d", m.Heads, m.HeadDim, m.Embd)
	}
	E, FF := int64(m.Embd), int64(m.FF)
	pos := m.tensors["position_embd.weight"]
	if pos == nil || len(pos.shape) != 2 || pos.shape[1] != E {
		return fmt.Errorf("no position_embd.weight of %d columns", E)
	}
	if m.CtxTrain == 0 || m.CtxTrain > int(pos.shape[0]) {
		m.CtxTrain = int(pos.shape[0])
	}
	want := map[string][]int64{"token_embd_norm.weight": {E}, "token_embd_norm.bias": {E}}
	if types := m.tensors["token_types.weight"]; types != nil {
		want["token_types.weight"] = []int64{types.shape[0], E}
	}
	for l := range m.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		for name, shape := range map[string][]int64{"attn_q": {E, E}, "attn_k": {E, E}, "attn_v": {E, E}, "attn_output": {E, E},
			"ffn_up": {FF, E}, "ffn_down": {E, FF}} {
			want[p+name+".weight"] = shape
			if b := m.tensors[p+name+".bias"]; b != nil {
				want[p+name+".bias"] = shape[:1]
			}
		}
		for _, norm := range []string{"attn_output_norm", "layer_output_norm"} {
			want[p+norm+".weight"], want[p+norm+".bias"] = []int64{E}, []int64{E}
		}
	}
	return m.checkShapes(want)
}

// Embedder runs an encoder (bert) on sentences of at most Ctx tokens and
// pools the last layer to one embedding per sentence, as llama.cpp's
// graph for BERT does:
//
//	x = LN(tok[id] + type[0] + pos[t])
//	per layer:  x = LN(x + Wo·attn(Wq·x+bq, Wk·x+bk, Wv·x+bv) + bo)
//	            x = LN(x + Wd·gelu(Wu·x+bu) + bd)
//	embedding = mean of x's rows, or its first row
//
// with attention over every token of the sentence (no causal mask). The
// products run on the accel backend with the weights of one layer decoded
// at a time, their inputs rounded as llama.cpp's CPU backend rounds them
// (activations.go), and GELU taken as ggml takes it (gelu). It reuses a
// Runner's buffers and helpers; it is not safe for concurrent use.
type Embedder struct {
	r     *Runner
	pos   []float32 // CtxTrain × embd
	types []float32 // the token type 0 row (nil if the model has none)
	out   []float32 // the pooled embedding
}

// NewEmbedder decodes the encoder's embeddings onto be and allocates the
// buffers of ctx tokens: a sentence (at most the model's context_length)
// or a batch of sentences.
func NewEmbedder(m *Model, be accel.Backend, ctx int) (*Embedder, error) {
	if !m.IsEncoder() {
		return nil, fmt.Errorf("forward: %s is a decoder (%s): it scores text (NewRunner), it gives no sentence embeddings", m.Path, m.Arch)
	}
	if ctx <= 0 {
		return nil, fmt.Errorf("forward: %s: an embedder of %d tokens", m.Path, ctx)
	}
	E, FF := m.Embd, m.FF
	r := &Runner{m: m, be: be, Ctx: ctx, w: map[string]*buf{}, wt: map[string]gguf.Type{}, vec: map[string][]float32{}}
	e := &Embedder{r: r, out: make([]float32, E)}
	var err error
	if r.emb, err = m.decode("token_embd.weight", make([]float32, m.Vocab*E)); err != nil {
		return nil, err
	}
	pos := m.tensors["position_embd.weight"]
	if e.pos, err = m.decode(pos.name, make([]float32, pos.elems())); err != nil {
		return nil, err
	}
	if t := m.tensors["token_types.weight"]; t != nil {
		types, err := m.decode(t.name, make([]float32, t.elems()))
		if err != nil {
			return nil, err
		}
		e.types = types[:E]
	}
	for name, n := range map[string]int{"attn_q": E * E, "attn_k": E * E, "attn_v": E * E, "attn_output": E * E,
		"ffn_up": FF * E, "ffn_down": E * FF} {
		r.w[name] = r.alloc(n)
	}
	r.x, r.h = r.alloc(ctx*E), r.alloc(ctx*E)
	r.q, r.k, r.v, r.att = r.alloc(ctx*E), r.alloc(ctx*E), r.alloc(ctx*E), r.alloc(ctx*E)
	r.scores = r.alloc(min(ctx, m.CtxTrain) * min(ctx, m.CtxTrain))
	r.u = r.alloc(ctx * FF)
	r.act = r.alloc(ctx * max(E, FF))
	return e, nil
}

// Embed runs the encoder on one sentence's tokens ([CLS] … [SEP], as
// the tokenizer encodes it with its special tokens) and returns its
// pooled embedding, valid until the next call. Like llama.cpp's
// llama_get_embeddings_seq (and llama-cpp-python's embed(), by default)
// it is not normalized; a cosine does not depend on that.
func (e *Embedder) Embed(tokens []int32) ([]float32, error) {
	out, err := e.EmbedBatch([][]int32{tokens})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// EmbedBatch is Embed of several sentences of at most Ctx tokens in all:
// their rows go through each layer's products together (a layer's
// weights are decoded once for the batch), each sentence attending to
// itself only, as llama.cpp batches sequences. The embeddings are valid
// until the next call.
func (e *Embedder) EmbedBatch(sentences [][]int32) ([][]float32, error) {
	r, m := e.r, e.r.m
	E, D := m.Embd, m.HeadDim
	N := 0
	for _, s := range sentences {
		if len(s) == 0 {
			return nil, fmt.Errorf("forward: a sentence of no tokens")
		}
		N += len(s)
	}
	if N == 0 || N > r.Ctx {
		return nil, fmt.Errorf("forward: %d sentences of %d tokens for an embedder of at most %d", len(sentences), N, r.Ctx)
	}
	n := 0
	for _, s := range sentences {
		for t, id := range s {
			if id < 0 || int(id) >= m.Vocab {
				return nil, fmt.Errorf("forward: token %d at %d is outside the vocabulary of %d", id, t, m.Vocab)
			}
			if t >= m.CtxTrain {
				return nil, fmt.Errorf("forward: a sentence of %d tokens; the model's context is %d", len(s), m.CtxTrain)
			}
			row := r.x.h[n*E : (n+1)*E]
			copy(row, r.emb[int(id)*E:(int(id)+1)*E])
			for i := range row {
				if e.types != nil {
					row[i] += e.types[i]
				}
				row[i] += e.pos[t*E+i]
			}
			n++
		}
	}
	if err := e.layerNorm(N, r.x, "token_embd_norm"); err != nil {
		return nil, err
	}
	r.push(r.x)
	scale := float32(1 / math.Sqrt(float64(D)))
	for l := range m.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		if err := r.loadLayer(p); err != nil {
			return nil, err
		}
		for _, qkv := range []struct {
			name string
			out  *buf
		}{{"attn_q", r.q}, {"attn_k", r.k}, {"attn_v", r.v}} {
			if err := e.affine(N, E, r.x, p, qkv.name, qkv.out); err != nil {
				return nil, err
			}
		}
		r.push(r.q, r.k, r.v)
		at := 0
		for _, s := range sentences {
			T, o := len(s), at*E
			for h := range m.Heads {
				r.gemm(T, T, D, scale, r.q, o+h*D, E, r.k, o+h*D, E, r.scores, 0, T, true)
				r.pull(r.scores)
				for t := range T {
					softmaxCausal(r.scores.h[t*T:(t+1)*T], T-1) // every position: no mask
				}
				r.push(r.scores)
				r.gemm(T, D, T, 1, r.scores, 0, T, r.v, o+h*D, E, r.att, o+h*D, E, false)
			}
			at += T
		}
		if err := e.affine(N, E, r.att, p, "attn_output", r.h); err != nil {
			return nil, err
		}
		if err := e.addNorm(N, p+"attn_output_norm"); err != nil {
			return nil, err
		}
		if err := e.affine(N, E, r.x, p, "ffn_up", r.u); err != nil {
			return nil, err
		}
		for i, v := range r.u.h[:N*m.FF] {
			r.u.h[i] = gelu(v)
		}
		r.push(r.u)
		if err := e.affine(N, m.FF, r.u, p, "ffn_down", r.h); err != nil {
			return nil, err
		}
		if err := e.addNorm(N, p+"layer_output_norm"); err != nil {
			return nil, err
		}
	}
	// r.x is on the host: addNorm left it there.
	if need := len(sentences) * E; len(e.out) < need {
		e.out = make([]float32, need)
	}
	embs := make([][]float32, len(sentences))
	at := 0
	for j, s := range sentences {
		out, T := e.out[j*E:(j+1)*E], len(s)
		switch m.Pooling {
		case PoolCLS:
			copy(out, r.x.h[at*E:(at+1)*E])
		default:
			for i := range E {
				var sum float64
				for t := at; t < at+T; t++ {
					sum += float64(r.x.h[t*E+i])
				}
				out[i] = float32(sum / float64(T))
			}
		}
		embs[j] = out
		at += T
	}
	return embs, nil
}

// affine sets out (on the host) to in · Wᵀ + b for layer p's matrix name
// and its bias (if the model has one).
func (e *Embedder) affine(T, k int, in *buf, p, name string, out *buf) error {
	r := e.r
	r.product(T, k, in, name, out)
	r.pull(out)
	b, err := r.vector(p + name + ".bias")
	if err != nil || b == nil {
		return err
	}
	n := len(b)
	for t := range T {
		row := out.h[t*n : (t+1)*n]
		for i := range row {
			row[i] += b[i]
		}
	}
	return nil
}

// addNorm sets x = LN(h + x) with the norm name's weight and bias (h on
// the host; x's host copy is current, as only the host writes x), and
// pushes x.
func (e *Embedder) addNorm(T int, name string) error {
	r := e.r
	for i, v := range r.h.h[:T*r.m.Embd] {
		r.x.h[i] += v
	}
	if err := e.layerNorm(T, r.x, name); err != nil {
		return err
	}
	r.push(r.x)
	return nil
}

// layerNorm normalizes x's T rows (on the host) in place with the norm
// name's weight and bias, as ggml_norm then ggml_mul and ggml_add do: the
// mean and the variance summed in float64, the rest in float32.
func (e *Embedder) layerNorm(T int, x *buf, name string) error {
	w, err := e.r.vector(name + ".weight")
	if err != nil {
		return err
	}
	b, err := e.r.vector(name + ".bias")
	if err != nil {
		return err
	}
	E := e.r.m.Embd
	for t := range T {
		row := x.h[t*E : (t+1)*E]
		var s float64
		for _, v := range row {
			s += float64(v)
		}
		mean := float32(s / float64(E))
		var s2 float64
		for i, v := range row {
			v -= mean
			row[i] = v
			s2 += float64(v * v)
		}
		k := 1 / float32(math.Sqrt(float64(float32(s2/float64(E))+float32(e.r.m.Eps))))
		for i, v := range row {
			row[i] = v*k*w[i] + b[i]
		}
	}
	return nil
}

// gelu is ggml's GELU on the CPU: the tanh approximation, looked up in a
// table of float16 inputs and outputs (GGML_GELU_FP16) between −10 and
// 10, 0 below and x above.
func gelu(x float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	v := float64(half.F16ToF32(half.F32ToF16(x)))
	g := 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*v*(1+0.044715*v*v)))
	return half.F16ToF32(half.F32ToF16(float32(g)))
}

// Cosine is the cosine of the angle between embeddings a and b, summed
// in float64.
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
