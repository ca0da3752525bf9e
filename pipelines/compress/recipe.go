package compress

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// A recipe is the compression flags as a JSON object of flag names without
// dashes to values, e.g. {"sparsity": "0.92,0.91,0.74", "quant": "kmeans:5"}:
// lightbeam compress --recipe reads one (its flags override it), and so
// does lightbeam nightly.

// RecipeFlags registers the recipe flags of lightbeam compress (and
// --recipe) on fs, and returns the function that completes c once fs is
// parsed: the recipe file's values for the flags not given, then the
// sparsity list.
func RecipeFlags(fs *flag.FlagSet, c *Config) func(context.Context) error {
	var sparsity, recipe string
	fs.StringVar(&recipe, "recipe", "", "a JSON file of these flags without dashes, e.g. {\"quant\": \"int8\"}; flags on the command line override it")
	fs.StringVar(&sparsity, "sparsity", "", "share of weights pruned: one value, or one per weight matrix (0.92,0.91,0.74)")
	fs.BoolVar(&c.Global, "global", false, "prune with one magnitude threshold across the weight matrices")
	fs.StringVar(&c.Prune, "prune", "magnitude", "magnitude: zero single weights; neurons: remove whole hidden neurons (smallest incoming L2 norm), shrinking the dense layers; --sparsity is then the share of each hidden layer removed")
	fs.IntVar(&c.PruneSteps, "prune-steps", 0, "gradual pruning: steps of the cubic schedule, each fine-tuned with the mask frozen (0: prune once)")
	fs.IntVar(&c.FineTuneEpochs, "finetune-epochs", 2, "fine-tuning epochs per prune step")
	fs.Float64Var(&c.LR, "lr", 0.01, "fine-tuning learning rate")
	fs.StringVar(&c.Mode, "mode", "local", "fine-tuning mode: sync or local")
	fs.StringVar(&c.Quant, "quant", "f32", "weights: f32, f16, int8 (per channel), int8-tensor, q8_0, q4_0 or kmeans:B; one, or one per weight matrix (kmeans:3,kmeans:4,kmeans:4)")
	fs.StringVar(&c.Bias, "bias", "", "biases: f32 (default), f16, int8-tensor or kmeans:B")
	fs.StringVar(&c.Meta, "meta", "", "artifact metadata: full (default) or compact (the preprocessing scale in float32's shortest decimals, no training data path, the recipe's zero fields left out)")
	fs.IntVar(&c.CodebookEpochs, "codebook-epochs", 0, "kmeans: fine-tune the shared values this many epochs, each moved by its weights' summed gradient (0: off)")
	fs.Float64Var(&c.CodebookLR, "codebook-lr", 0, "learning rate of the codebook fine-tuning (default: --lr)")
	fs.Float64Var(&c.Distill, "distill", 0, "fine-tune with the source model as teacher: weight α of its soft targets (0: off)")
	fs.Float64Var(&c.Temperature, "temperature", 0, "distillation temperature T (default 4)")
	fs.Float64Var(&c.Dropout, "dropout", 0, "share of hidden units dropped while fine-tuning (0: off)")
	fs.StringVar(&c.Augment, "augment", "", "shift:N: fine-tune on training images each moved by up to N pixels in each direction (data of images only; \"\": off)")
	return func(ctx context.Context) error {
		if recipe != "" {
			raw, err := storage.ReadFile(ctx, recipe)
			if err != nil {
				return err
			}
			if err := ApplyRecipe(fs, recipe, raw); err != nil {
				return err
			}
		}
		var err error
		if c.Sparsity, err = parseFloats(sparsity); err != nil {
			return fmt.Errorf("--sparsity=%s: %w", sparsity, err)
		}
		return nil
	}
}

// ApplyRecipe sets the flags of fs that the recipe raw (read from path)
// names and the command line did not.
func ApplyRecipe(fs *flag.FlagSet, path string, raw []byte) error {
	var r map[string]any
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: not a JSON object of flags: %w", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k, v := range r {
		if k == "recipe" || fs.Lookup(k) == nil {
			return fmt.Errorf("%s: %q is not a flag of lightbeam compress", path, k)
		}
		if given[k] {
			continue
		}
		s := fmt.Sprint(v)
		if f, ok := v.(float64); ok {
			s = strconv.FormatFloat(f, 'g', -1, 64)
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("%s: %s: %w", path, k, err)
		}
	}
	return nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseRecipe returns the Config that the recipe raw (read from path)
// gives, the flags' defaults for what it leaves out.
func ParseRecipe(ctx context.Context, path string, raw []byte) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("recipe", flag.ContinueOnError)
	finish := RecipeFlags(fs, &c)
	if err := ApplyRecipe(fs, path, raw); err != nil {
		return Config{}, err
	}
	return c, finish(ctx)
}
