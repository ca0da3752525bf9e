package train

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// ParamsEval evaluates several parameter vectors of one architecture on a
// split of a preprocess output, in one pipeline: the evaluation of
// EvaluateSplit with the parameters coming from the pipeline itself (a
// compression sweep's settings) rather than from a model file. Vector i is
// model i of a Models set, so the shards are read once per worker for all
// of them, and Build and Plain add the same partials in the same order:
// they give the same bits.
type ParamsEval struct {
	spec   *Spec
	shards []shardio.ShardInfo
	n      int
}

// NewParamsEval plans the evaluation of n parameter vectors of mc on the
// split (Optional. Defaults to "test") of the preprocess output data, with
// the math backend accel and the shard groups DefaultWorkers gives runner.
func NewParamsEval(ctx context.Context, data, split string, mc model.Config, accel, runner string, n int) (*ParamsEval, error) {
	if split == "" {
		split = "test"
	}
	if accel == "" {
		accel = "auto"
	}
	if n < 1 {
		return nil, fmt.Errorf("train.NewParamsEval: %d parameter vectors, want at least 1", n)
	}
	man, err := shardio.ReadManifest(ctx, data)
	if err != nil {
		return nil, err
	}
	if mc.Inputs != man.Schema.Features {
		return nil, fmt.Errorf("the model takes %d features, but %s has %d", mc.Inputs, data, man.Schema.Features)
	}
	sp := man.Splits[split]
	if sp == nil || sp.Rows == 0 {
		return nil, fmt.Errorf("%s: split %q is empty or missing", data, split)
	}
	spec := &Spec{Model: mc, Accel: accel, Data: data, Workers: DefaultWorkers(runner, len(sp.Shards))}
	return &ParamsEval{spec: spec, shards: sp.Shards, n: n}, nil
}

// Build evaluates PCollection<State>, one State per vector with Model set
// to its index in [0, n) and Params to the vector, and returns
// PCollection<KV<int, transforms.Partial>>: per index, the loss, correct
// predictions and confusion counts summed over the split (Metrics reads
// them).
func (e *ParamsEval) Build(s beam.Scope, states beam.PCollection) beam.PCollection {
	s = s.Scope("train.ParamsEval")
	ms := &Models{}
	for i := 0; i < e.n; i++ {
		ms.Specs = append(ms.Specs, e.spec)
		ms.TrainSels = append(ms.TrainSels, rowSelect{})
		ms.EvalSels = append(ms.EvalSels, rowSelect{})
	}
	return Evaluate(s, ms, shardTasks(e.shards, e.spec.Workers), states)
}

// Plain evaluates params in this process, shard after shard: the sum that
// Build gives for the same vector.
func (e *ParamsEval) Plain(ctx context.Context, params []float32) (transforms.Partial, error) {
	w, err := newShardMath(e.spec)
	if err != nil {
		return transforms.Partial{}, err
	}
	defer w.close()
	return plainEval(ctx, w, e.shards, params, rowSelect{}, e.spec.Workers)
}

// Metrics turns an evaluation sum into the mean loss and, for a
// classifier, the accuracy (0 otherwise).
func Metrics(sum transforms.Partial, classifier bool) (accuracy, loss float64) {
	if sum.Examples == 0 {
		return 0, 0
	}
	loss = sum.LossSum / float64(sum.Examples)
	if classifier {
		accuracy = float64(sum.Correct) / float64(sum.Examples)
	}
	return accuracy, loss
}
