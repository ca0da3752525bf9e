package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/docs/recipes"
	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/preprocess"
	"github.com/lightbeam-ml/lightbeam/pipelines/train"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// demoRecipePath is the compression recipe the demo runs, the committed
// one whose numbers docs/BENCHMARKS.md gives (embedded: package recipes).
const demoRecipePath = "docs/recipes/lenet-300-100-16k.json"

var demoCmd = &command{
	name:    "demo",
	summary: "preprocess, train and compress on the bundled MNIST, then print a summary table",
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		var out, mode, modelName, hidden, accelName string
		var epochs, shards int
		fs.StringVar(&out, "out", "out/demo", "output directory (replaced)")
		fs.StringVar(&modelName, "model", "mlp", "softmax or mlp")
		fs.StringVar(&hidden, "hidden", "300,100", "mlp hidden widths")
		fs.StringVar(&mode, "mode", "local", "sync or local")
		fs.IntVar(&epochs, "epochs", 30, "epochs")
		fs.IntVar(&shards, "shards", 4, "shards per split")
		fs.StringVar(&accelName, "accel", "auto", "math backend: auto, go, blas or cuda")
		var noCompress bool
		fs.BoolVar(&noCompress, "no-compress", false, "stop after training")
		return func(ctx context.Context) error {
			start := time.Now()
			be, _, err := accel.Select(accelName)
			if err != nil {
				return err
			}
			fmt.Println(accel.Banner(be))
			be.Close()
			mnist, err := bundledMNIST()
			if err != nil {
				return err
			}
			prepDir, trainDir := storage.Join(out, "prep"), storage.Join(out, "train")
			fmt.Printf("demo: preprocessing MNIST from %s\n", mnist)
			prep, err := preprocess.Run(ctx, preprocess.Config{Format: "idx", Input: mnist, Out: prepDir, Shards: shards, Overwrite: true})
			if err != nil {
				return err
			}
			fmt.Println(prep.Summary())
			c := train.DefaultConfig()
			c.Data, c.Out, c.Model, c.Mode, c.Epochs, c.Accel, c.Overwrite, c.Runner = prepDir, trainDir, modelName, mode, epochs, accelName, true, beamRunner()
			if modelName == "mlp" {
				if c.Hidden, err = train.ParseHidden(hidden); err != nil {
					return err
				}
			}
			rep, err := train.Run(ctx, c, os.Stdout)
			if err != nil {
				return err
			}
			fmt.Printf("\n%-28s %s\n", "step", "result")
			row := func(k, v string, a ...any) { fmt.Printf("%-28s %s\n", k, fmt.Sprintf(v, a...)) }
			row("data", "%d rows: train %d, validation %d, test %d; %d features, %d classes", prep.RowsWritten, prep.Splits["train"], prep.Splits["validation"], prep.Splits["test"], prep.Features, prep.Classes)
			row("preprocess", "%.1f s, %d shard files, %.1f MB → %.1f MB, %d rejected", prep.Seconds, prep.Shards, float64(prep.BytesIn)/1e6, float64(prep.BytesOut)/1e6, prep.RowsRejected)
			row("model", "%s, %d parameters, %s mode, %d rounds/epoch", rep.Model, rep.Params, rep.Mode, rep.RoundsPerEpoch)
			row("train", "%d epochs in %.1f s (%.0f examples/s), best epoch %d", rep.Epochs, rep.TrainSeconds, rep.ExamplesPerSecond, rep.BestEpoch)
			row("validation accuracy", "%.2f%%", 100*rep.ValidationAccuracy)
			row("test accuracy", "%.2f%% (error %.2f%%), loss %.4f", 100*rep.TestAccuracy, 100*(1-rep.TestAccuracy), rep.TestLoss)
			row("model file", "%s", rep.ModelFile)
			if !noCompress && modelName == "mlp" {
				demoRecipe, err := recipes.FS.ReadFile(path.Base(demoRecipePath))
				if err != nil {
					return err
				}
				cc, err := compress.ParseRecipe(ctx, demoRecipePath, demoRecipe)
				if err != nil {
					return err
				}
				cc.Model, cc.Data, cc.Out, cc.Accel, cc.Runner, cc.Overwrite = trainDir, prepDir, storage.Join(out, "compress"), accelName, beamRunner(), true
				fmt.Printf("\ndemo: compressing with %s: %s\n", demoRecipePath, bytes.TrimSpace(demoRecipe))
				crep, err := compress.Run(ctx, cc, os.Stdout)
				if err != nil {
					return err
				}
				row("compress", "%.1f s", crep.Seconds)
				row("artifact", "%s", crep.Artifact)
				fmt.Print(crep.Table())
			}
			fmt.Printf("\n%-28s %.1f s\n", "total", time.Since(start).Seconds())
			return nil
		}
	},
}
