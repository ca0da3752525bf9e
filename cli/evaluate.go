package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lightbeam-ml/lightbeam/llm/forward"
	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/llmeval"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
)

var evaluateCmd = &command{
	name:    "evaluate",
	summary: "evaluate a model on a split of a preprocess output (accuracy, loss, confusion matrix), a GGUF language model on text (perplexity, and KL and top-1 against a reference), or a GGUF embedding model on sentences (cosine with a reference's embeddings)",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var modelPath, data, split, accelName, text string
		var asJSON, plain bool
		var lc llmeval.Config
		fs.StringVar(&modelPath, "model", "", "model.safetensors written by train, or a compressed artifact (model.lbc) (required, unless --checkpoint)")
		fs.StringVar(&data, "data", "", "preprocess output directory (required with --model)")
		fs.StringVar(&lc.Checkpoint, "checkpoint", "", "instead of --model: a GGUF language model ("+forward.Supported+"): a decoder scored on --text as llama-perplexity scores it, an encoder (bert) embedding --sentences")
		fs.StringVar(&text, "text", "", "with --checkpoint of a decoder: text files, comma-separated, tokenized by the checkpoint's vocabulary (required)")
		fs.StringVar(&lc.Sentences, "sentences", "", "with --checkpoint of an encoder (bert), instead of --text: a file of one sentence a line (blank lines skipped), each embedded (required)")
		fs.StringVar(&lc.Reference, "reference", "", "with --checkpoint: a GGUF of the same vocabulary (the source model): KL divergence, top-1 agreement, perplexity ratio; with --sentences, the cosine of each sentence's embeddings (min, mean)")
		fs.IntVar(&lc.Ctx, "ctx", llmeval.DefaultCtx, "with --checkpoint: tokens a window; each window is scored on its second half")
		fs.IntVar(&lc.MaxWindows, "max-windows", 0, "with --checkpoint: score the first N windows only (0: all)")
		fs.StringVar(&lc.Out, "out", "", "with --checkpoint: a directory for report.json (optional)")
		fs.StringVar(&split, "split", "test", "train, validation or test")
		fs.StringVar(&accelName, "accel", "auto", "math backend: auto, go, blas or cuda")
		fs.BoolVar(&asJSON, "json", false, "print JSON only")
		fs.BoolVar(&plain, "plain", false, "evaluate in this process without Beam")
		return func(ctx context.Context) error {
			if lc.Checkpoint != "" {
				if (text == "") == (lc.Sentences == "") {
					return fmt.Errorf("--checkpoint needs --text (a decoder) or --sentences (an encoder), one of them")
				}
				if text != "" {
					lc.Text = strings.Split(text, ",")
				}
				lc.Accel, lc.Plain, lc.Runner = accelName, plain, beamRunner()
				if err := workersSee(ctx, append([]string{lc.Checkpoint, lc.Reference, lc.Sentences}, lc.Text...), []string{lc.Out}); err != nil {
					return err
				}
				log := io.Writer(os.Stderr)
				if asJSON {
					log = io.Discard
				}
				rep, err := llmeval.Run(ctx, lc, log)
				if err != nil {
					return err
				}
				if !asJSON {
					fmt.Print(rep.Text())
				}
				b, _ := json.Marshal(rep)
				fmt.Println(string(b))
				return nil
			}
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
