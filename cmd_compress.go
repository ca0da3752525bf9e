package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
	"github.com/lightbeam-ml/lightbeam/storage"
)

func init() {
	register(command{
		name:    "compress",
		summary: "prune and quantize a trained model into a small artifact, and evaluate it before and after",
		flags: func(fs *flag.FlagSet) func(context.Context) error {
			var c compress.Config
			var ck quantize.Config
			var sweep string
			fs.StringVar(&c.Model, "model", "", "train output directory or model file (required, unless --checkpoint)")
			fs.StringVar(&ck.Checkpoint, "checkpoint", "", "instead of --model: a safetensors checkpoint of any size (a .safetensors file, a sharded checkpoint's index file or directory) to quantize with --quant=q8_0|q4_0|q4_k into OUT/model.gguf (or with --quant=int8 --format=lightbeam into OUT/model.lbc), on Beam, by chunks")
			fs.StringVar(&ck.Format, "format", "gguf", "with --checkpoint: the output format: gguf (q8_0, q4_0, q4_k) or lightbeam (int8, an artifact of version 2)")
			fs.BoolVar(&ck.Quant1D, "quant-1d", false, "with --checkpoint: quantize 1-D tensors (biases, norms) too; they stay F32 otherwise")
			fs.IntVar(&ck.ChunkMB, "chunk-mb", quantize.DefaultChunkMB, "with --checkpoint: source MiB per pipeline element, at most")
			fs.StringVar(&c.Data, "data", "", "preprocess output: evaluation before and after, and fine-tuning")
			fs.StringVar(&c.Out, "out", "", "output directory: model.lbc, dequantized.safetensors, report.json (required)")
			fs.StringVar(&sweep, "sweep", "", "LO:HI:N: evaluate N sparsities from LO to HI (one-shot pruning, the recipe's --quant; needs --data) and write sweep.json and sweep.png")
			fs.StringVar(&c.Accel, "accel", "auto", "math backend: auto, go, blas or cuda")
			fs.BoolVar(&c.Plain, "plain", false, "fine-tune and evaluate in this process without Beam")
			fs.BoolVar(&c.Resume, "resume", false, "keep the prune steps already finished in --out")
			fs.BoolVar(&c.Overwrite, "overwrite", false, "replace a finished output")
			finish := compress.RecipeFlags(fs, &c)
			return func(ctx context.Context) error {
				if err := finish(ctx); err != nil {
					return err
				}
				c.Runner = beamRunner()
				if err := workersSee(ctx, []string{c.Model, c.Data, ck.Checkpoint}, []string{c.Out}); err != nil {
					return err
				}
				release, err := lockOut(ctx, "compress", c.Out)
				if err != nil {
					return err
				}
				defer release()
				if ck.Checkpoint != "" {
					return compressCheckpoint(ctx, fs, c, ck)
				}
				if sweep != "" {
					sw, err := compress.ParseSweep(sweep)
					if err != nil {
						return err
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
				fmt.Print(compressTable(rep, c.Data != ""))
				fmt.Printf("artifact: %s (%.1f s)\n", rep.Artifact, rep.Seconds)
				return nil
			}
		},
	})
	register(command{
		name:       "inspect",
		summary:    "print the layers, shapes, sparsity, encodings and bytes of an artifact or a model file",
		positional: true,
		flags: func(fs *flag.FlagSet) func(context.Context) error {
			return func(ctx context.Context) error {
				args := positionalArgs(ctx)
				if len(args) != 1 {
					return fmt.Errorf("usage: lightbeam inspect FILE")
				}
				out, err := inspect(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Print(out)
				return nil
			}
		},
	})
}

// compressCheckpoint runs lightbeam compress --checkpoint: the recipe's
// --quant, and no flag that only a lightbeam model takes.
func compressCheckpoint(ctx context.Context, fs *flag.FlagSet, c compress.Config, ck quantize.Config) error {
	var modelOnly []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "model", "data", "sweep", "sparsity", "global", "prune", "prune-steps", "finetune-epochs", "lr", "mode", "codebook-epochs", "codebook-lr", "plain", "resume":
			modelOnly = append(modelOnly, "--"+f.Name)
		}
	})
	if len(modelOnly) > 0 {
		return fmt.Errorf("--checkpoint quantizes a checkpoint without data or fine-tuning; %s apply to --model only", strings.Join(modelOnly, ", "))
	}
	ck.Out, ck.Quant, ck.Overwrite, ck.Runner = c.Out, c.Quant, c.Overwrite, c.Runner
	rep, err := quantize.Run(ctx, ck, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Print(rep.Table())
	return nil
}

// compressTable is the before/after summary of a compression.
func compressTable(rep *compress.Report, evaluated bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-26s %14s %14s\n", "", "before", "after")
	fmt.Fprintf(&b, "%-26s %14d %14d   (%.1fx smaller, %.2f bits/weight, sparsity %.1f%%)\n", "bytes", rep.BytesBefore, rep.BytesAfter, rep.Ratio, rep.BitsPerWeight, 100*rep.Sparsity)
	if evaluated {
		fmt.Fprintf(&b, "%-26s %13.2f%% %13.2f%%\n", "test accuracy", 100*rep.AccuracyBefore, 100*rep.AccuracyAfter)
		fmt.Fprintf(&b, "%-26s %14.4f %14.4f\n", "test loss", rep.LossBefore, rep.LossAfter)
	}
	fmt.Fprintf(&b, "%-26s %14.1f %14.1f   (%s on %s)\n", fmt.Sprintf("inference ms, %d rows", compress.LatencyRows), rep.LatencyBeforeMS, rep.LatencyAfterMS, rep.Kernels, rep.Backend)
	return b.String()
}

// inspect describes an artifact (by its magic), a GGUF file, or a
// safetensors file: a lightbeam model with its sparsity, any other
// checkpoint by its header alone, however large.
func inspect(ctx context.Context, path string) (string, error) {
	size, err := storage.Size(ctx, path)
	if err != nil {
		return "", err
	}
	r, err := storage.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer r.Close()
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(4); string(magic) == gguf.Magic {
		return inspectGGUF(br, size, path)
	}
	if strings.HasSuffix(path, ".safetensors") {
		h, err := quantize.ReadHeader(ctx, path)
		if err != nil {
			return "", err
		}
		if h.Metadata[model.MetaFormat] == "" {
			return inspectHeader(h, size, path), nil
		}
	}
	raw, err := io.ReadAll(br)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if a, aerr := artifact.Decode(raw, path); aerr == nil {
		return fmt.Sprintf("%s: lightbeam artifact v%d, %d bytes\n%s", path, a.Version, a.Size, a.Table()), nil
	} else if !strings.HasSuffix(path, ".safetensors") {
		return "", aerr
	}
	ts, meta, err := model.DecodeSafetensors(raw, path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: safetensors (%s), %d bytes\n", path, meta[model.MetaFormat], len(raw))
	fmt.Fprintf(&b, "%-24s %-12s %10s %9s %10s\n", "tensor", "shape", "values", "sparsity", "bytes")
	for _, t := range ts {
		sp := prune.NonZero(t.Data).Sparsity()
		fmt.Fprintf(&b, "%-24s %-12s %10d %8.1f%% %10d\n", t.Name, fmt.Sprint(t.Shape), len(t.Data), 100*sp, 4*len(t.Data))
	}
	return b.String(), nil
}

// inspectHeader lists a safetensors checkpoint's tensors from its header.
func inspectHeader(h *model.SafetensorsHeader, size int64, path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: safetensors checkpoint, %d tensors, %d bytes\n", path, len(h.Tensors), size)
	fmt.Fprintf(&b, "%-48s %-6s %-16s %14s\n", "tensor", "dtype", "shape", "bytes")
	for _, t := range h.Tensors {
		fmt.Fprintf(&b, "%-48s %-6s %-16s %14d\n", t.Name, t.DType, fmt.Sprint(t.Shape), t.End-t.Begin)
	}
	return b.String()
}

// inspectGGUF lists a GGUF file's metadata and tensors from its header.
func inspectGGUF(r io.Reader, size int64, path string) (string, error) {
	f, _, err := gguf.Read(r, size, path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: GGUF, %d tensors, %d bytes\n", path, len(f.Tensors), size)
	for _, kv := range f.KV {
		if v, ok := kv.Value.(string); ok && len(v) > 120 {
			kv.Value = v[:117] + "..."
		}
		fmt.Fprintf(&b, "  %s = %v\n", kv.Key, kv.Value)
	}
	fmt.Fprintf(&b, "%-48s %-6s %-16s %14s %6s\n", "tensor", "type", "shape", "bytes", "bits")
	for _, t := range f.Tensors {
		n, _ := t.Bytes()
		fmt.Fprintf(&b, "%-48s %-6s %-16s %14d %6.2f\n", t.Name, t.Type, fmt.Sprint(t.Shape), n, 8*float64(n)/float64(t.Elements()))
	}
	return b.String(), nil
}
