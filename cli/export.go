package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/lightbeam-ml/lightbeam/export/convert"
)

var exportCmd = &command{
	name:    "export",
	summary: "write a model file or compressed artifact for another runtime: --format=onnx (raw features in, probabilities out) or gguf (llama.cpp's file)",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var c convert.Config
		fs.StringVar(&c.Model, "model", "", "model.safetensors written by train, or a compressed artifact (model.lbc) (required)")
		fs.StringVar(&c.Format, "format", "", "output format: onnx or gguf (required)")
		fs.StringVar(&c.Out, "out", "", "output file, local or gs:// (required)")
		fs.StringVar(&c.Data, "data", "", "onnx: preprocess output the model was trained on: its manifest's scale is folded into the graph (required when the model file records no scale)")
		fs.StringVar(&c.Quant, "quant", "f32", "gguf: f32, q8_0, q4_0 or q4_k for the weight matrices (an artifact's Q8_0/Q4_0 blocks are kept as they are)")
		return func(ctx context.Context) error {
			line, err := convert.Write(ctx, c)
			if err != nil {
				return err
			}
			fmt.Println(line)
			return nil
		}
	},
}
