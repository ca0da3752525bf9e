package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lightbeam-ml/lightbeam/pipelines/llmeval"
	"github.com/lightbeam-ml/lightbeam/pipelines/nightly"
)

// Exit codes of lightbeam nightly (documented in its help and the README).
const (
	exitNothing = 3 // nothing to do: every model already compressed with the recipe
	exitGate    = 4 // a model's quality gate failed; its LATEST was left
)

// exitStatus is an error with an exit code.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }
func (e exitStatus) ExitCode() int { return e.code }

var nightlyCmd = &command{
	name:    "nightly",
	summary: "compress the trained models under a prefix that a recipe has not compressed yet; exit 0 done, 3 nothing to do, 4 a gate failed, 1 an error",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var c nightly.Config
		fs.StringVar(&c.Models, "models", "", "prefix whose NAME/ folders are train outputs (model.safetensors + report.json), Hugging Face model directories (config.json) or safetensors checkpoints (required)")
		fs.StringVar(&c.Out, "out", "", "prefix for OUT/DATE/NAME/ outputs, OUT/NAME/LATEST pointers, OUT/runs.jsonl and OUT/LOCK (required)")
		fs.StringVar(&c.Recipe, "recipe", "", "compress recipe file: a JSON object of compress flags, e.g. docs/recipes/lenet-300-100.json (required)")
		fs.StringVar(&c.Data, "data", "", "preprocess output: evaluate before and after (accuracy gates need it), and fine-tune")
		fs.StringVar(&c.Gate, "gate", "", "quality gate for moving LATEST, comma-separated: max_accuracy_drop=POINTS, min_accuracy=PERCENT, min_ratio=X, max_bytes=N; checkpoints: min_sqnr_db=DB; model directories with --eval-text: max_ppl_increase=PERCENT, min_top1=PERCENT, max_kl=NATS; with --eval-sentences: min_embedding_cosine=C")
		var evalText string
		fs.StringVar(&evalText, "eval-text", "", "text files, comma-separated: each model directory's GGUF is evaluated against its source on them (perplexity, KL, top-1; lightbeam evaluate)")
		fs.StringVar(&c.EvalSentences, "eval-sentences", "", "a file of one sentence a line: each encoder model directory's GGUF (BERT) is compared with its source on it (embeddings' cosine; min_embedding_cosine)")
		fs.IntVar(&c.EvalCtx, "eval-ctx", llmeval.DefaultCtx, "with --eval-text: tokens a window")
		fs.IntVar(&c.EvalMaxWindows, "eval-max-windows", 0, "with --eval-text: the first N windows only (0: all)")
		fs.StringVar(&c.Date, "date", "", "the run's date, YYYY-MM-DD (default: today, UTC)")
		fs.StringVar(&c.Accel, "accel", "auto", "math backend: auto, go, blas or cuda")
		fs.DurationVar(&c.LockTTL, "lock-ttl", nightly.DefaultLockTTL, "how long the lock holds if its owner dies elsewhere (a dead process on this host frees it at once)")
		return func(ctx context.Context) error {
			c.Runner = beamRunner()
			if evalText != "" {
				c.EvalText = strings.Split(evalText, ",")
			}
			// systemd and Kubernetes stop a run with SIGTERM: log it, free
			// the lock, and exit 143 as a killed process would.
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			c.OnInterrupt = func() {
				fmt.Fprintln(os.Stderr, "lightbeam: nightly: stopped by a signal; the lock is released and the next run finishes the work")
				os.Exit(143)
			}
			rep, err := nightly.Run(ctx, c, os.Stdout)
			if err != nil {
				return err
			}
			fmt.Printf("nightly %s: %d models, %d done, %d skipped, %d gate failed, %d failed\n", rep.Date, rep.Seen, rep.Done, rep.Skipped, rep.GateFailed, rep.Failed)
			switch rep.Outcome() {
			case "failed":
				return fmt.Errorf("nightly: %d models failed (see %s)", rep.Failed, c.Out+"/"+nightly.RunsFile)
			case "gate":
				return exitStatus{exitGate, fmt.Sprintf("nightly: %d models failed their gate; their LATEST stays", rep.GateFailed)}
			case "nothing":
				return exitStatus{exitNothing, "nightly: nothing to do: every model is compressed with this recipe"}
			}
			return nil
		}
	},
}
