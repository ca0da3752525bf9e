package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/lightbeam-ml/lightbeam/pipelines/train"
)

var trainCmd = &command{
	name:    "train",
	summary: "train softmax regression, linear regression or an MLP with data-parallel SGD on Beam",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var c train.Config
		d := train.DefaultConfig()
		var hidden string
		fs.StringVar(&c.Data, "data", "", "preprocess output directory (required)")
		fs.StringVar(&c.Out, "out", "", "output directory for checkpoints, model.safetensors and report.json (required)")
		fs.StringVar(&c.Model, "model", d.Model, "softmax, linear or mlp")
		fs.StringVar(&hidden, "hidden", "", "mlp hidden layer widths (default 300,100)")
		fs.StringVar(&c.Mode, "mode", d.Mode, "sync: one optimizer step per round with the summed gradient; local: K local steps per shard, then model averaging")
		fs.IntVar(&c.Epochs, "epochs", d.Epochs, "epochs")
		fs.IntVar(&c.Batch, "batch", d.Batch, "sync: global mini-batch rows")
		fs.IntVar(&c.LocalSteps, "local-steps", 0, "local: optimizer steps per shard per round (0: four rounds an epoch)")
		fs.IntVar(&c.LocalBatch, "local-batch", d.LocalBatch, "local: rows per local step")
		fs.StringVar(&c.Optimizer, "optimizer", d.Optimizer, "sgd, momentum or adam")
		fs.Float64Var(&c.LR, "lr", 0, "learning rate (default 0.1; 0.001 for adam)")
		fs.StringVar(&c.Schedule, "schedule", d.Schedule, "learning-rate schedule: cosine, constant, step, invsqrt")
		fs.IntVar(&c.StepEpochs, "step-epochs", d.StepEpochs, "step schedule: epochs between decays")
		fs.Float64Var(&c.Gamma, "gamma", d.Gamma, "step schedule: decay factor")
		fs.Float64Var(&c.Momentum, "momentum", d.Momentum, "momentum coefficient")
		fs.BoolVar(&c.Nesterov, "nesterov", d.Nesterov, "Nesterov momentum")
		fs.Float64Var(&c.L2, "l2", d.L2, "L2 weight decay")
		fs.Float64Var(&c.L1, "l1", 0, "L1 penalty (proximal)")
		fs.Float64Var(&c.Clip, "clip", 0, "clip the gradient norm to this (0: off)")
		fs.StringVar(&c.Objective, "objective", d.Objective, "minimize the loss, or maximize the log-likelihood (gradient ascent)")
		fs.IntVar(&c.Patience, "patience", 0, "stop after this many epochs without a better validation score: accuracy for classifiers, else loss (0: never)")
		fs.BoolVar(&c.Resume, "resume", false, "continue from the last checkpoint in --out")
		fs.BoolVar(&c.Overwrite, "overwrite", false, "replace a finished run in --out")
		fs.Uint64Var(&c.Seed, "seed", d.Seed, "random seed (initialization and batch order)")
		fs.StringVar(&c.Accel, "accel", d.Accel, "math backend: auto, go, blas or cuda")
		fs.IntVar(&c.Workers, "workers", 0, "shard groups: each round sends one model copy to, and gets one partial from, each group (0: one on prism and direct, one per shard on a cluster)")
		fs.IntVar(&c.RoundsPerJob, "rounds-per-job", 0, "with several --workers, the most rounds one Beam job runs; an epoch runs as several jobs beyond (0: 24 on prism and direct, which hold a job's data in memory; no bound on a cluster)")
		fs.IntVar(&c.Folds, "cv", 0, "K-fold cross-validation on train+validation (K ≥ 2), all folds and grid settings trained in one pipeline; then the best setting is retrained on all of it")
		fs.StringVar(&c.Grid, "grid", "", "hyper-parameter grid for --cv, e.g. lr=0.1,0.03;l2=0,1e-4 (names: lr, l2, l1, momentum)")
		fs.BoolVar(&c.AllData, "all-data", false, "train on train+validation together, without validation")
		fs.StringVar(&c.Init, "init", "", "fine-tune: start from this model file instead of a random initialization")
		fs.BoolVar(&c.FreezeZeros, "freeze-zeros", false, "with --init: weights that are zero stay zero (a pruned model's mask)")
		fs.BoolVar(&c.ShareWeights, "share-weights", false, "with --init: a tensor's equal non-zero weights train as one value, moved by their summed gradient (a k-means codebook)")
		fs.Float64Var(&c.Dropout, "dropout", 0, "share of each hidden layer's units dropped while training (inverted dropout, off at evaluation; 0: off)")
		fs.Float64Var(&c.InputDropout, "input-dropout", 0, "share of the input features dropped while training (0: off)")
		fs.StringVar(&c.Augment, "augment", "", "shift:N: train on images each moved by up to N pixels in each direction, drawn per row and epoch (data whose manifest records images: IDX, or Parquet/TFRecord of one image column; \"\": off)")
		fs.StringVar(&c.Teacher, "teacher", "", "distill: a model file whose logits on each batch are soft targets (with --distill)")
		fs.Float64Var(&c.Distill, "distill", 0, "with --teacher: weight α of the soft targets; loss = (1−α)·CE(labels) + α·T²·KL(teacher ‖ student at --temperature)")
		fs.Float64Var(&c.Temperature, "temperature", 0, "distillation temperature T (default 4 with --distill)")
		fs.BoolVar(&c.Plain, "plain", false, "run the same rounds in this process without Beam (the benchmark baseline)")
		return func(ctx context.Context) error {
			var err error
			if c.Hidden, err = train.ParseHidden(hidden); err != nil {
				return err
			}
			c.Runner = beamRunner()
			if err := workersSee(ctx, []string{c.Data, c.Init, c.Teacher}, []string{c.Out}); err != nil {
				return err
			}
			release, err := lockOut(ctx, "train", c.Out)
			if err != nil {
				return err
			}
			defer release()
			rep, err := train.Run(ctx, c, os.Stdout)
			if err != nil {
				return err
			}
			for _, r := range rep.CV {
				fmt.Printf("cv: %-30s %.4f ± %.4f\n", r.Setting, r.Mean, r.Std)
			}
			fmt.Printf("train: %s, best epoch %d of %d: validation accuracy %.2f%%, test accuracy %.2f%% (loss %.4f), %.0f examples/s, %.1f s\n       model: %s\n",
				rep.Model, rep.BestEpoch, rep.Epochs, 100*rep.ValidationAccuracy, 100*rep.TestAccuracy, rep.TestLoss, rep.ExamplesPerSecond, rep.TrainSeconds, rep.ModelFile)
			return nil
		}
	},
}
