package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// EvalResult is what `lightbeam evaluate` reports.
type EvalResult struct {
	Model     string    `json:"model"`
	Data      string    `json:"data"`
	Split     string    `json:"split"`
	Examples  int64     `json:"examples"`
	Loss      float64   `json:"loss"`               // mean cross-entropy, or mean squared error
	Accuracy  float64   `json:"accuracy,omitempty"` // classifiers
	Confusion [][]int64 `json:"confusion,omitempty"`
	// Artifacts only: inference time on 10,000 rows with the artifact's
	// own kernels, and which ran (filled in by the CLI).
	InferenceMS float64 `json:"inference_ms,omitempty"`
	Kernels     string  `json:"kernels,omitempty"`
}

// EvalConfig says what EvaluateSplit evaluates.
type EvalConfig struct {
	Model  string // Required. A model file.
	Data   string // Required. A preprocess output.
	Split  string // Optional. Defaults to "test".
	Accel  string // Optional. The math backend; defaults to auto.
	Plain  bool   // evaluate in this process, without Beam
	Runner string // Optional. The Beam runner's name; picks the shard groups (DefaultWorkers).
}

// EvaluateSplit evaluates a model file on a split of a preprocess output,
// as a Beam pipeline (or in this process when c.Plain is set).
func EvaluateSplit(ctx context.Context, c EvalConfig) (*EvalResult, error) {
	if c.Split == "" {
		c.Split = "test"
	}
	if c.Accel == "" {
		c.Accel = "auto"
	}
	data, modelPath, split, accelName, plain := c.Data, c.Model, c.Split, c.Accel, c.Plain
	man, err := shardio.ReadManifest(ctx, data)
	if err != nil {
		return nil, err
	}
	m, params, _, err := ReadModel(ctx, modelPath)
	if err != nil {
		return nil, err
	}
	if m.Inputs() != man.Schema.Features {
		return nil, fmt.Errorf("%s takes %d features, but %s has %d", modelPath, m.Inputs(), data, man.Schema.Features)
	}
	sp := man.Splits[split]
	if sp == nil || sp.Rows == 0 {
		return nil, fmt.Errorf("%s: split %q is empty or missing", data, split)
	}
	spec := &Spec{Model: m.Config(), Accel: accelName, Data: data, Workers: DefaultWorkers(c.Runner, len(sp.Shards))}
	var sum transforms.Partial
	if plain {
		w, err := newShardMath(spec)
		if err != nil {
			return nil, err
		}
		defer w.close()
		if sum, err = plainEval(ctx, w, sp.Shards, params, rowSelect{}, spec.Workers); err != nil {
			return nil, err
		}
	} else {
		out := storage.Join(storage.Dir(modelPath), fmt.Sprintf(".eval-%s.bin", split))
		pipe, s := beam.NewPipelineWithRoot()
		state := beam.ParDo(s, &loadModelFn{Path: modelPath}, beam.Impulse(s))
		ms := single(spec, "")
		ev := Evaluate(s, ms, shardTasks(sp.Shards, spec.Workers), state)
		beam.ParDo0(s, &writePartialFn{Path: out}, beam.DropKey(s, ev))
		if _, err := beamx.RunWithMetrics(ctx, pipe); err != nil {
			return nil, fmt.Errorf("evaluation pipeline failed: %w", err)
		}
		b, err := storage.ReadFile(ctx, out)
		if err != nil {
			return nil, err
		}
		_ = storage.Remove(ctx, out)
		if sum, err = transforms.DecodePartial(b); err != nil {
			return nil, err
		}
	}
	res := &EvalResult{Model: modelPath, Data: data, Split: split, Examples: sum.Examples}
	if sum.Examples > 0 {
		res.Loss = sum.LossSum / float64(sum.Examples)
		if m.Classifier() {
			res.Accuracy = float64(sum.Correct) / float64(sum.Examples)
		}
	}
	if k := m.Outputs(); m.Classifier() && len(sum.Sum) == k*k {
		res.Confusion = make([][]int64, k)
		for i := range res.Confusion {
			res.Confusion[i] = make([]int64, k)
			for j := range res.Confusion[i] {
				res.Confusion[i][j] = int64(math.Round(float64(sum.Sum[i*k+j])))
			}
		}
	}
	return res, nil
}

// Text renders r for people: accuracy, loss and the confusion matrix
// (rows: true class, columns: predicted).
func (r *EvalResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s/%s: %d examples, loss %.4f", r.Model, r.Data, r.Split, r.Examples, r.Loss)
	if r.Confusion != nil {
		fmt.Fprintf(&b, ", accuracy %.2f%%\n\nconfusion (row: true class, column: predicted)\n      ", 100*r.Accuracy)
		for j := range r.Confusion {
			fmt.Fprintf(&b, "%6d", j)
		}
		for i, row := range r.Confusion {
			fmt.Fprintf(&b, "\n%6d", i)
			for _, n := range row {
				fmt.Fprintf(&b, "%6d", n)
			}
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// ReadModel reads the model file at path (local, gs://): the model, its
// parameters and its metadata. A compressed artifact (compress/artifact)
// reads as the model it holds, with its dequantized values.
func ReadModel(ctx context.Context, path string) (*model.Model, []float32, map[string]string, error) {
	raw, err := storage.ReadFile(ctx, path)
	if err != nil {
		return nil, nil, nil, err
	}
	m, params, meta, _, err := artifact.DecodeModel(raw, path)
	return m, params, meta, err
}

type loadModelFn struct{ Path string }

func (fn *loadModelFn) ProcessElement(ctx context.Context, _ []byte) (State, error) {
	_, params, _, err := ReadModel(ctx, fn.Path)
	return State{Params: params}, err
}

type writePartialFn struct{ Path string }

func (fn *writePartialFn) ProcessElement(ctx context.Context, p transforms.Partial) error {
	return storage.WriteFile(ctx, fn.Path, func(w io.Writer) error {
		_, err := w.Write(transforms.EncodePartial(p))
		return err
	})
}

func init() {
	register.DoFn2x2[context.Context, []byte, State, error](&loadModelFn{})
	register.DoFn2x1[context.Context, transforms.Partial, error](&writePartialFn{})
}
