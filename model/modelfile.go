package model

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/internal/version"
)

// Metadata keys lightbeam writes into model files and checkpoints. Callers'
// metadata (preprocessing statistics, epoch, step, rng state) passes
// through unchanged but may not use these keys or the "optimizer." prefix.
const (
	MetaFormat  = "lightbeam.format"  // "model" or "checkpoint"
	MetaArch    = "lightbeam.arch"    // Softmax, Linear or MLP
	MetaSizes   = "lightbeam.sizes"   // layer widths, input first: "784,300,100,10"
	MetaVersion = "lightbeam.version" // version.Version
)

// Tensors returns the named tensors of params, sharing its memory.
func (m *Model) Tensors(params []float32) []Tensor {
	m.checkParams(params)
	ts := make([]Tensor, len(m.layout))
	for i, s := range m.layout {
		ts[i] = Tensor{Name: s.Name, Shape: append([]int(nil), s.Shape...), Data: params[s.Offset : s.Offset+s.Size()]}
	}
	return ts
}

func (m *Model) metadata(format string, user map[string]string) (map[string]string, error) {
	meta := map[string]string{
		MetaFormat:  format,
		MetaArch:    string(m.cfg.Arch),
		MetaSizes:   joinInts(m.Sizes(), ","),
		MetaVersion: version.Version,
	}
	for k, v := range user {
		if _, clash := meta[k]; clash || strings.HasPrefix(k, "lightbeam.") || strings.HasPrefix(k, "optimizer.") {
			return nil, fmt.Errorf("model: metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	return meta, nil
}

// EncodeModel writes params as a safetensors model file: one tensor per
// layout entry ("fc1.weight" [300,784], "fc1.bias" [300], …) and metadata
// naming the architecture, layer sizes and version, plus meta (e.g.
// preprocessing statistics) passed through.
func EncodeModel(w io.Writer, m *Model, params []float32, meta map[string]string) error {
	md, err := m.metadata("model", meta)
	if err != nil {
		return err
	}
	return EncodeSafetensors(w, m.Tensors(params), md)
}

// DecodeModel reads a model file's bytes (or a checkpoint's: only its
// parameters) and returns the model, its parameters and all metadata.
// source names the file in errors.
func DecodeModel(data []byte, source string) (*Model, []float32, map[string]string, error) {
	ts, meta, err := DecodeSafetensors(data, source)
	if err != nil {
		return nil, nil, nil, err
	}
	m, params, err := FromTensors(ts, meta)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("model: %s: %w", source, err)
	}
	return m, params, meta, nil
}

// FromTensors rebuilds the model from its metadata (MetaArch, MetaSizes)
// and gathers its parameters from ts, checking every layout tensor's
// presence and shape.
func FromTensors(ts []Tensor, meta map[string]string) (*Model, []float32, error) {
	arch, sizes := meta[MetaArch], meta[MetaSizes]
	if arch == "" || sizes == "" {
		return nil, nil, fmt.Errorf("%w: metadata lacks %s or %s", errNotModel, MetaArch, MetaSizes)
	}
	var widths []int
	for _, f := range strings.Split(sizes, ",") {
		w, err := strconv.Atoi(f)
		if err != nil {
			return nil, nil, fmt.Errorf("metadata %s=%q: %v", MetaSizes, sizes, err)
		}
		widths = append(widths, w)
	}
	if len(widths) < 2 {
		return nil, nil, fmt.Errorf("metadata %s=%q names fewer than two layers", MetaSizes, sizes)
	}
	m, err := New(Config{Arch: Arch(arch), Inputs: widths[0], Hidden: widths[1 : len(widths)-1], Outputs: widths[len(widths)-1]})
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	params := make([]float32, m.n)
	for _, s := range m.layout {
		t, ok := byName[s.Name]
		if !ok {
			return nil, nil, fmt.Errorf("%s model lacks tensor %q", m, s.Name)
		}
		if !equalInts(t.Shape, s.Shape) {
			return nil, nil, fmt.Errorf("tensor %q has shape %v, %s needs %v", s.Name, t.Shape, m, s.Shape)
		}
		copy(params[s.Offset:], t.Data)
	}
	return m, params, nil
}

// Checkpoint is a saved training state: the model, its parameters, the
// optimizer's state and the trainer's metadata (epoch, step, rng state…).
type Checkpoint struct {
	Model  *Model
	Params []float32
	// Tensors holds every tensor of the file, optimizer state included;
	// pass it with Meta to Optimizer.LoadState.
	Tensors []Tensor
	Meta    map[string]string
}

func checkpointTensors(m *Model, params []float32, opt *Optimizer, meta map[string]string) ([]Tensor, map[string]string, error) {
	md, err := m.metadata("checkpoint", meta)
	if err != nil {
		return nil, nil, err
	}
	ts := m.Tensors(params)
	if opt != nil {
		ots, om := opt.State()
		ts = append(ts, ots...)
		for k, v := range om {
			md[k] = v
		}
	}
	return ts, md, nil
}

// EncodeCheckpoint writes params, opt's state (when opt is not nil) and
// meta in the safetensors format.
func EncodeCheckpoint(w io.Writer, m *Model, params []float32, opt *Optimizer, meta map[string]string) error {
	ts, md, err := checkpointTensors(m, params, opt, meta)
	if err != nil {
		return err
	}
	return EncodeSafetensors(w, ts, md)
}

// DecodeCheckpoint parses a checkpoint's bytes; source names the file in
// errors.
func DecodeCheckpoint(data []byte, source string) (*Checkpoint, error) {
	ts, meta, err := DecodeSafetensors(data, source)
	if err != nil {
		return nil, err
	}
	if f := meta[MetaFormat]; f != "checkpoint" {
		return nil, fmt.Errorf("model: %s: %s is %q, not a checkpoint", source, MetaFormat, f)
	}
	m, params, err := FromTensors(ts, meta)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", source, err)
	}
	return &Checkpoint{Model: m, Params: params, Tensors: ts, Meta: meta}, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
