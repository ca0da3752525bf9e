package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/llmeval"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
)

var compressCmd = &command{
	name:    "compress",
	summary: "prune and quantize a trained model into a small artifact, and evaluate it before and after",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var c compress.Config
		var ck quantize.Config
		var sweep, sweepRecipes, evalText string
		var eval llmeval.Config
		fs.StringVar(&c.Model, "model", "", "train output directory or model file (required, unless --checkpoint)")
		fs.StringVar(&ck.Checkpoint, "checkpoint", "", "instead of --model: a safetensors checkpoint of any size, quantized on Beam by chunks into OUT/model.gguf. A Hugging Face model directory (config.json: Llama, Mistral, Qwen2, Qwen3, BERT) becomes a GGUF that llama.cpp runs, --quant being a preset: "+strings.Join(quantize.PresetNames(), ", ")+"; with --arch=raw, or for a .safetensors file or an index, the tensors keep their names, --quant=q8_0|q4_0|q4_k (or --quant=int8 --format=lightbeam into OUT/model.lbc)")
		fs.StringVar(&ck.Arch, "arch", "auto", "with --checkpoint: auto (a directory with config.json is converted for llama.cpp) or raw (the checkpoint's own tensor names, no model metadata)")
		fs.StringVar(&ck.TokenizerPre, "tokenizer-pre", "", "with --checkpoint of a model directory: tokenizer.ggml.pre, when lightbeam does not recognize the pre-tokenizer of tokenizer.json")
		fs.StringVar(&ck.Name, "name", "", "with --checkpoint of a model directory: general.name (default: the directory's name)")
		fs.StringVar(&ck.Format, "format", "gguf", "with --checkpoint: the output format: gguf, or lightbeam (--arch=raw, int8, an artifact of version 2)")
		fs.BoolVar(&ck.Quant1D, "quant-1d", false, "with --checkpoint --arch=raw: quantize 1-D tensors (biases, norms) too; they stay F32 otherwise")
		fs.IntVar(&ck.ChunkMB, "chunk-mb", quantize.DefaultChunkMB, "with --checkpoint: source MiB per pipeline element, at most")
		fs.StringVar(&evalText, "eval-text", "", "with --checkpoint of a model directory: text files, comma-separated: the source and the GGUF are scored on them in one job (perplexity before and after, KL, top-1; lightbeam evaluate), into report.json and the table")
		fs.StringVar(&eval.Sentences, "eval-sentences", "", "with --checkpoint of an encoder's model directory (BERT): a file of one sentence a line: the embeddings of the source and the GGUF compared in one job (cosine min and mean), into report.json and the table")
		fs.IntVar(&eval.Ctx, "eval-ctx", llmeval.DefaultCtx, "with --eval-text: tokens a window")
		fs.IntVar(&eval.MaxWindows, "eval-max-windows", 0, "with --eval-text: score the first N windows only (0: all)")
		fs.StringVar(&c.Data, "data", "", "preprocess output: evaluation before and after, and fine-tuning")
		fs.StringVar(&c.Out, "out", "", "output directory: model.lbc, dequantized.safetensors, report.json (required)")
		fs.StringVar(&sweep, "sweep", "", "LO:HI:N: evaluate N sparsities from LO to HI (one-shot pruning, the recipe's --quant; needs --data) and write sweep.json and sweep.png; with --checkpoint of a model directory and --eval-text: presets, comma-separated (e.g. q8_0,q4_k_m,q4_0), each into OUT/PRESET/ and evaluated, with sweep.json and sweep.png (perplexity against bytes)")
		fs.StringVar(&sweepRecipes, "sweep-recipes", "", "with --sweep=LO:HI:N: recipe files, comma-separated, each run in full (fine-tuning included) into OUT/NAME and drawn beside the one-shot settings; a finished OUT/NAME is read back unless --overwrite")
		fs.StringVar(&c.Accel, "accel", "auto", "math backend: auto, go, blas or cuda")
		fs.BoolVar(&c.Plain, "plain", false, "fine-tune and evaluate in this process without Beam")
		fs.BoolVar(&c.Resume, "resume", false, "keep the prune steps already finished in --out")
		fs.BoolVar(&c.Overwrite, "overwrite", false, "replace a finished output")
		finish := compress.RecipeFlags(fs, &c)
		return func(ctx context.Context) error {
			if err := finish(ctx); err != nil {
				return err
			}
			if sweepRecipes != "" && sweep == "" {
				return fmt.Errorf("--sweep-recipes draws fine-tuned recipes beside a sweep: it needs --sweep=LO:HI:N")
			}
			c.Runner = beamRunner()
			if evalText != "" {
				eval.Text = strings.Split(evalText, ",")
			}
			if err := workersSee(ctx, append([]string{c.Model, c.Data, ck.Checkpoint, eval.Sentences}, eval.Text...), []string{c.Out}); err != nil {
				return err
			}
			release, err := lockOut(ctx, "compress", c.Out)
			if err != nil {
				return err
			}
			defer release()
			if ck.Checkpoint != "" {
				return compressCheckpoint(ctx, fs, c, ck, sweep, eval)
			}
			if evalText != "" || eval.Sentences != "" {
				return fmt.Errorf("--eval-text and --eval-sentences evaluate a language model: they need --checkpoint (a model directory); a lightbeam model is evaluated on --data")
			}
			if sweep != "" {
				sw, err := compress.ParseSweep(sweep)
				if err != nil {
					return err
				}
				if sweepRecipes != "" {
					sw.Recipes = strings.Split(sweepRecipes, ",")
				}
				rep, err := compress.RunSweep(ctx, c, sw, os.Stdout)
				if err != nil {
					return err
				}
				fmt.Print(rep.Table())
				return nil
			}
			rep, err := compress.Run(ctx, c, os.Stdout)
			if err != nil {
				return err
			}
			fmt.Print(rep.Table())
			fmt.Printf("artifact: %s (%.1f s)\n", rep.Artifact, rep.Seconds)
			return nil
		}
	},
}

// compressCheckpoint runs lightbeam compress --checkpoint: the recipe's
// --quant, and no flag that only a lightbeam model takes.
func compressCheckpoint(ctx context.Context, fs *flag.FlagSet, c compress.Config, ck quantize.Config, sweep string, eval llmeval.Config) error {
	var modelOnly []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "model", "data", "sparsity", "global", "prune", "prune-steps", "finetune-epochs", "lr", "mode", "codebook-epochs", "codebook-lr", "plain", "resume":
			modelOnly = append(modelOnly, "--"+f.Name)
		}
	})
	if len(modelOnly) > 0 {
		return fmt.Errorf("--checkpoint quantizes a checkpoint without data or fine-tuning; %s apply to --model only", strings.Join(modelOnly, ", "))
	}
	ck.Out, ck.Quant, ck.Overwrite, ck.Runner = c.Out, c.Quant, c.Overwrite, c.Runner
	evaluate := len(eval.Text) > 0 || eval.Sentences != ""
	if evaluate {
		// Checked before the quantization: the model takes text or sentences.
		var err error
		if eval, err = llmeval.ForModel(ctx, ck.Checkpoint, eval); err != nil {
			return err
		}
		eval.Accel, eval.Runner = c.Accel, c.Runner
	}
	if sweep != "" {
		if len(eval.Text) == 0 {
			return fmt.Errorf("--sweep with --checkpoint plots each preset's perplexity: it needs --eval-text (a decoder)")
		}
		rep, err := llmeval.Sweep(ctx, ck, strings.Split(sweep, ","), eval, os.Stdout)
		if err != nil {
			return err
		}
		fmt.Print("\n" + rep.Table())
		fmt.Printf("plot: %s\n", rep.Plot)
		return nil
	}
	if evaluate {
		ck.Evaluate = llmeval.Compare(eval, os.Stdout)
	}
	rep, err := quantize.Run(ctx, ck, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Print(rep.Table())
	return nil
}
