package quantize

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Arch modes (Config.Arch).
const (
	ArchAuto = "auto" // model mode for a directory with config.json, raw otherwise
	ArchRaw  = "raw"  // the checkpoint's own tensor names, no model metadata
)

// modelMode reports whether c is quantized as a model (llm.Open), by
// c.Arch's rule: "raw" never, "" and "auto" when the checkpoint is a
// directory with config.json.
func (c *Config) modelMode(ctx context.Context) (bool, error) {
	switch strings.ToLower(c.Arch) {
	case ArchRaw:
		return false, nil
	case "", ArchAuto:
	default:
		return false, fmt.Errorf("--arch=%s: want auto (a model directory with config.json is converted for llama.cpp) or raw (the checkpoint's tensor names as they are)", c.Arch)
	}
	p := strings.TrimSuffix(c.Checkpoint, "/")
	if strings.HasSuffix(p, ".safetensors") || strings.HasSuffix(p, ".json") {
		return false, nil
	}
	return storage.Exists(ctx, storage.Join(p, "config.json"))
}

// validateModel checks what model mode allows: a preset, GGUF, no --quant-1d.
func (c *Config) validateModel() error {
	if c.Format != "" && c.Format != "gguf" {
		return fmt.Errorf("--format=%s: %s is a model directory (config.json), written as a llama.cpp GGUF; --format=lightbeam takes a raw checkpoint (pass --arch=raw)", c.Format, c.Checkpoint)
	}
	if c.Quant1D {
		return fmt.Errorf("--quant-1d: %s is a model directory (config.json), whose tensor types follow llama-quantize's rules; --quant-1d is for --arch=raw", c.Checkpoint)
	}
	c.Format = "gguf"
	p, err := gguf.ParsePreset(c.Quant)
	if err != nil {
		return fmt.Errorf("--quant=%s: a model directory is quantized to one of llama.cpp's presets: %s", c.Quant, strings.Join(PresetNames(), ", "))
	}
	c.preset = &p
	if c.ChunkMB == 0 {
		c.ChunkMB = DefaultChunkMB
	}
	if c.ChunkMB < 1 || c.ChunkMB > 1024 {
		return fmt.Errorf("--chunk-mb=%d: want 1 to 1024", c.ChunkMB)
	}
	return nil
}

// PresetNames are the presets --quant takes for a model directory.
func PresetNames() []string {
	var names []string
	for _, p := range gguf.Presets {
		names = append(names, p.Name)
	}
	return names
}

// planModel lays out the GGUF of the model m under c.preset: m's tensors
// under llama.cpp's names and in the converter's order, their types from
// the preset's rules (F32 where the converter keeps F32), m.KV's metadata
// followed by meta, and chunks of whole heads for the permuted Q/K rows.
func planModel(c Config, m *llm.Model, meta []gguf.KV) (*Plan, error) {
	kv, err := m.KV(c.preset.FileType)
	if err != nil {
		return nil, err
	}
	p := &Plan{Files: m.Files}
	infos := make([]gguf.TensorInfo, len(m.Tensors))
	layers := 0
	for i, t := range m.Tensors {
		infos[i] = gguf.TensorInfo{Name: t.Name, Shape: t.Shape}
		if n, ok := layerOf(t.Name); ok {
			layers = max(layers, n+1)
		}
	}
	types, err := c.preset.Types(gguf.Arch{Name: m.Arch, Layers: layers}, infos)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", c.Checkpoint, err)
	}
	for i, mt := range m.Tensors {
		ch := types[i]
		if mt.F32 && ch.Type != gguf.F32 {
			ch = gguf.Choice{Type: gguf.F32, Why: "kept F32, as llama.cpp's converter does"}
		}
		t := Tensor{Name: mt.Name, Source: mt.Source, File: mt.File, Gen: mt.Generation, DType: mt.DType, Shape: mt.Shape,
			Begin: mt.Begin, End: mt.End, Type: ch.Type, Reason: ch.Why, PermuteHeads: mt.PermuteHeads, Data: mt.Data}
		if mt.Data != nil {
			t.Begin, t.End = 0, 4*int64(len(mt.Data))
		}
		p.Tensors = append(p.Tensors, t)
	}
	return p, layoutGGUF(p, c, append(kv, meta...))
}

// layerOf is N of a tensor named blk.N.….
func layerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:max(0, strings.IndexByte(rest, '.'))])
	return n, err == nil
}

// modelMeta is what model mode adds to the model's metadata: what raw mode
// writes and llm's KV does not.
func modelMeta(c Config, arch string) []gguf.KV {
	return []gguf.KV{
		{Key: "general.alignment", Value: uint32(gguf.Alignment)},
		{Key: "lightbeam.source", Value: c.Checkpoint},
		{Key: "lightbeam.recipe", Value: recipeJSON(c, arch)},
		{Key: "lightbeam.version", Value: versionString()},
	}
}
