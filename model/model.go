package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Arch names a model architecture.
type Arch string

// The architectures. Each is a stack of fully connected layers
// z = h·Wᵀ + b with W stored [out,in] as PyTorch stores nn.Linear.
const (
	// Softmax is multinomial logistic regression: one layer, softmax
	// cross-entropy loss. With two classes it is logistic regression
	// (over-parameterized by one redundant weight row).
	Softmax Arch = "softmax"
	// Linear is linear regression: one layer, squared loss Σ‖z − y‖².
	Linear Arch = "linear"
	// MLP is a multilayer perceptron: ReLU hidden layers and a softmax
	// cross-entropy output layer.
	MLP Arch = "mlp"
)

// ErrShape is the panic value (wrapped) for programmer errors in shapes:
// a parameter vector, batch or output of the wrong length.
var ErrShape = errors.New("model: shape mismatch")

// Config describes a model.
type Config struct {
	// Arch is the architecture. Required.
	Arch Arch
	// Inputs is the number of features d. Required.
	Inputs int
	// Hidden are the hidden layer widths of an MLP, input side first.
	// Required (non-empty) for MLP; must be empty otherwise.
	Hidden []int
	// Outputs is the number of classes (Softmax, MLP; at least 2) or of
	// regression targets per row (Linear; at least 1). Required.
	Outputs int
}

func (c Config) validate() error {
	switch c.Arch {
	case Softmax, Linear, MLP:
	default:
		return fmt.Errorf("model: unknown architecture %q (want %q, %q or %q)", c.Arch, Softmax, Linear, MLP)
	}
	if c.Inputs < 1 {
		return fmt.Errorf("model: %d inputs, want at least 1", c.Inputs)
	}
	minOut := 2
	if c.Arch == Linear {
		minOut = 1
	}
	if c.Outputs < minOut {
		return fmt.Errorf("model: %s with %d outputs, want at least %d", c.Arch, c.Outputs, minOut)
	}
	if c.Arch == MLP && len(c.Hidden) == 0 {
		return errors.New("model: mlp needs at least one hidden layer")
	}
	if c.Arch != MLP && len(c.Hidden) != 0 {
		return fmt.Errorf("model: %s takes no hidden layers, got %v", c.Arch, c.Hidden)
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("model: hidden layer %d has width %d", i+1, h)
		}
	}
	return nil
}

// TensorSpec is one named tensor inside the flat parameter vector:
// params[Offset : Offset+Size()] holds it row-major.
type TensorSpec struct {
	Name   string
	Shape  []int
	Offset int
}

// Size is the number of values in the tensor.
func (t TensorSpec) Size() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// layer is one fully connected layer: weight [out,in] at w, bias [out] at b.
type layer struct {
	in, out int
	w, b    int // offsets into the flat parameter vector
	relu    bool
}

// Model is an immutable model description: architecture, layer sizes and
// the layout of its parameters in one flat []float32. It holds no
// parameters itself, so one Model serves any number of parameter vectors
// and goroutines.
type Model struct {
	cfg    Config
	layers []layer
	layout []TensorSpec
	n      int
}

// New returns the model that cfg describes.
func New(cfg Config) (*Model, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Hidden = append([]int(nil), cfg.Hidden...)
	m := &Model{cfg: cfg}
	sizes := m.Sizes()
	for i := 0; i+1 < len(sizes); i++ {
		name := "linear"
		if cfg.Arch == MLP {
			name = "fc" + strconv.Itoa(i+1)
		}
		in, out := sizes[i], sizes[i+1]
		l := layer{in: in, out: out, w: m.n, b: m.n + out*in, relu: i+2 < len(sizes)}
		m.layout = append(m.layout,
			TensorSpec{Name: name + ".weight", Shape: []int{out, in}, Offset: l.w},
			TensorSpec{Name: name + ".bias", Shape: []int{out}, Offset: l.b})
		m.n += out*in + out
		m.layers = append(m.layers, l)
	}
	return m, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config {
	c := m.cfg
	c.Hidden = append([]int(nil), c.Hidden...)
	return c
}

// Arch returns the model's architecture.
func (m *Model) Arch() Arch { return m.cfg.Arch }

// Inputs returns the number of input features d.
func (m *Model) Inputs() int { return m.cfg.Inputs }

// Outputs returns the number of classes or regression targets k.
func (m *Model) Outputs() int { return m.cfg.Outputs }

// Classifier reports whether labels are class indices (Softmax, MLP)
// rather than regression targets (Linear).
func (m *Model) Classifier() bool { return m.cfg.Arch != Linear }

// Sizes returns the layer widths from input to output, e.g. [784 300 100 10].
func (m *Model) Sizes() []int {
	s := []int{m.cfg.Inputs}
	s = append(s, m.cfg.Hidden...)
	return append(s, m.cfg.Outputs)
}

// NumParams is the length of the flat parameter vector.
func (m *Model) NumParams() int { return m.n }

// Layout lists the named tensors of the parameter vector in order.
func (m *Model) Layout() []TensorSpec {
	out := make([]TensorSpec, len(m.layout))
	for i, t := range m.layout {
		t.Shape = append([]int(nil), t.Shape...)
		out[i] = t
	}
	return out
}

// LabelWidth is the number of label values per row: 1 for classifiers (a
// class index), Outputs for Linear (the targets).
func (m *Model) LabelWidth() int {
	if m.Classifier() {
		return 1
	}
	return m.cfg.Outputs
}

// String describes the model, e.g. "mlp 784-300-100-10".
func (m *Model) String() string {
	return string(m.cfg.Arch) + " " + joinInts(m.Sizes(), "-")
}

// Init returns a new parameter vector drawn deterministically from seed
// (PCG). Biases are zero. ReLU layers use He initialization and the output
// layer Glorot (Xavier) uniform:
//
//	He:     W ~ N(0, 2/in)
//	Glorot: W ~ U(−a, a),  a = √(6/(in+out))
func (m *Model) Init(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x6c6967687462656d)) // "lightbem"
	p := make([]float32, m.n)
	for _, l := range m.layers {
		w := p[l.w : l.w+l.out*l.in]
		if l.relu {
			sd := math.Sqrt(2 / float64(l.in))
			for i := range w {
				w[i] = float32(r.NormFloat64() * sd)
			}
		} else {
			a := math.Sqrt(6 / float64(l.in+l.out))
			for i := range w {
				w[i] = float32((2*r.Float64() - 1) * a)
			}
		}
	}
	return p
}

func (m *Model) checkParams(params []float32) {
	if len(params) != m.n {
		panic(fmt.Errorf("%w: %s has %d parameters, got a vector of %d", ErrShape, m, m.n, len(params)))
	}
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}
