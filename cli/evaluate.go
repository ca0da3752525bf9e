package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
)

var evaluateCmd = &command{
	name:    "evaluate",
	summary: "evaluate a model file on a split of a preprocess output: accuracy, loss, confusion matrix",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var modelPath, data, split, accelName string
		var asJSON, plain bool
		fs.StringVar(&modelPath, "model", "", "model.safetensors written by train, or a compressed artifact (model.lbc) (required)")
		fs.StringVar(&data, "data", "", "preprocess output directory (required)")
		fs.StringVar(&split, "split", "test", "train, validation or test")
		fs.StringVar(&accelName, "accel", "auto", "math backend: auto, go, blas or cuda")
		fs.BoolVar(&asJSON, "json", false, "print JSON only")
		fs.BoolVar(&plain, "plain", false, "evaluate in this process without Beam")
		return func(ctx context.Context) error {
			if modelPath == "" || data == "" {
				return fmt.Errorf("--model and --data are required")
			}
			if err := workersSee(ctx, []string{modelPath, data}, nil); err != nil {
				return err
			}
			res, err := train.EvaluateSplit(ctx, train.EvalConfig{Model: modelPath, Data: data, Split: split, Accel: accelName, Plain: plain, Runner: beamRunner()})
			if err != nil {
				return err
			}
			if res.InferenceMS, res.Kernels, err = compress.TimeArtifact(ctx, modelPath, accelName); err != nil {
				return err
			}
			b, _ := json.Marshal(res)
			if !asJSON {
				fmt.Print(res.Text())
				if res.Kernels != "" {
					fmt.Printf("inference: %.1f ms per %d rows (%s)\n", res.InferenceMS, compress.LatencyRows, res.Kernels)
				}
			}
			fmt.Println(string(b))
			return nil
		}
	},
}
