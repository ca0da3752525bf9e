package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/export"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/export/onnx"
	"github.com/lightbeam-ml/lightbeam/storage"
)

func init() {
	register(command{
		name:    "export",
		summary: "write a model file or compressed artifact for another runtime: --format=onnx (raw features in, probabilities out) or gguf (llama.cpp's file)",
		flags: func(fs *flag.FlagSet) func(context.Context) error {
			var c exportConfig
			fs.StringVar(&c.Model, "model", "", "model.safetensors written by train, or a compressed artifact (model.lbc) (required)")
			fs.StringVar(&c.Format, "format", "", "output format: onnx or gguf (required)")
			fs.StringVar(&c.Out, "out", "", "output file, local or gs:// (required)")
			fs.StringVar(&c.Data, "data", "", "onnx: preprocess output the model was trained on: its manifest's scale is folded into the graph (required when the model file records no scale)")
			fs.StringVar(&c.Quant, "quant", "f32", "gguf: f32, q8_0, q4_0 or q4_k for the weight matrices (an artifact's Q8_0/Q4_0 blocks are kept as they are)")
			return func(ctx context.Context) error {
				line, err := runExport(ctx, c)
				if err != nil {
					return err
				}
				fmt.Println(line)
				return nil
			}
		},
	})
}

// exportConfig says what lightbeam export writes.
type exportConfig struct {
	Model  string // Required. A model file or a compressed artifact.
	Format string // Required. "onnx".
	Out    string // Required. The output file.
	Data   string // Optional. A preprocess output (its manifest's scale).
	Quant  string // Optional. gguf: the type of the weight matrices; defaults to f32.
}

// runExport writes c.Model in c.Format to c.Out, atomically, and returns the
// one-line summary to print.
func runExport(ctx context.Context, c exportConfig) (string, error) {
	if c.Model == "" || c.Out == "" || c.Format == "" {
		return "", fmt.Errorf("export: --model, --format and --out are required")
	}
	var encode func(*export.Source) ([]byte, string, error)
	switch c.Format {
	case "onnx":
		encode = func(src *export.Source) ([]byte, string, error) { return exportONNX(ctx, c, src) }
	case "gguf":
		q := gguf.F32
		if c.Quant != "" && c.Quant != "f32" {
			var err error
			if q, err = gguf.ParseType(c.Quant); err != nil || q != gguf.Q8_0 && q != gguf.Q4_0 && q != gguf.Q4_K {
				return "", fmt.Errorf("export: --quant=%s: want f32, q8_0, q4_0 or q4_k", c.Quant)
			}
		}
		encode = func(src *export.Source) ([]byte, string, error) { return exportGGUF(src, q) }
	default:
		return "", fmt.Errorf("export: --format=%s: unknown format (want onnx or gguf)", c.Format)
	}
	raw, err := storage.ReadFile(ctx, c.Model)
	if err != nil {
		return "", err
	}
	src, err := export.DecodeSource(raw, c.Model)
	if err != nil {
		return "", err
	}
	b, summary, err := encode(src)
	if err != nil {
		return "", err
	}
	if err := storage.WriteBytes(ctx, c.Out, b); err != nil {
		return "", err
	}
	return fmt.Sprintf("export: %s: %s", c.Out, summary), nil
}

// exportONNX returns the ONNX graph of src with the preprocessing scale
// folded in: the manifest's in c.Data when given, else the one the model
// file records.
func exportONNX(ctx context.Context, c exportConfig, src *export.Source) ([]byte, string, error) {
	var man *shardio.Manifest
	if c.Data != "" {
		var err error
		if man, err = shardio.ReadManifest(ctx, c.Data); err != nil {
			return nil, "", err
		}
	}
	sc, from, err := onnx.InputScale(src, man, c.Data)
	if err != nil {
		return nil, "", err
	}
	b, sum, err := onnx.Export(src, sc)
	if err != nil {
		return nil, "", err
	}
	return b, fmt.Sprintf("%s (scale from %s)", sum, from), nil
}

// exportGGUF returns src as a GGUF file (export/gguf.Model), its weight
// matrices quantized to q.
func exportGGUF(src *export.Source, q gguf.Type) ([]byte, string, error) {
	b, tensors, err := gguf.Model(src, q)
	if err != nil {
		return nil, "", err
	}
	var parts []string
	for _, t := range tensors {
		parts = append(parts, fmt.Sprintf("%s %v %v", t.Name, t.Shape, t.Type))
	}
	return b, fmt.Sprintf("GGUF v%d, %d bytes, %s: %s", gguf.Version, len(b), src.Model, strings.Join(parts, ", ")), nil
}
