package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/data/shardio"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/transforms"
)

// Spec is everything a training round needs to know; it travels inside the
// pipeline's DoFns, so its fields serialize (as JSON).
type Spec struct {
	Model      model.Config
	Optimizer  model.OptimizerConfig
	Mode       string // "sync" or "local"
	Batch      int    // sync: expected rows of a round's global mini-batch
	LocalSteps int    // local: optimizer steps each shard takes per round
	LocalBatch int    // local: rows per local step
	Seed       uint64
	Accel      string // backend name: auto, go, blas, cuda
	Data       string // the preprocess output directory
	Rounds     int    // rounds per epoch
	Workers    int    // shard groups: each round sends one model copy and gets one partial per group
	// RoundsPerJob bounds the rounds of one Beam job where rounds
	// shuffle (0: no bound); see Config.RoundsPerJob.
	RoundsPerJob int
	// FreezeZeros keeps the weights that are exactly zero at zero, with
	// their optimizer state: a pruning mask frozen during fine-tuning.
	FreezeZeros bool
	// Share is a model file whose equal non-zero weights train as one
	// shared value (share.go), ShareSHA256 its content's hash.
	Share, ShareSHA256 string
	// Reg is the dropout and distillation of the training gradients.
	Reg model.Regularization
	// Teacher is the model file whose logits distillation learns from
	// (Reg.Distill > 0), TeacherSHA256 its content's hash.
	Teacher, TeacherSHA256 string
	// Augment moves training rows that are images (nil: off).
	Augment *Augment
}

// shardGroups splits shards 0..n-1 among the workers: shard i goes to
// worker i % workers, each group in shard order.
func shardGroups(n, workers int) [][]int {
	if n == 0 {
		return nil
	}
	workers = max(1, min(workers, n))
	g := make([][]int, workers)
	for i := 0; i < n; i++ {
		g[i%workers] = append(g[i%workers], i)
	}
	return g
}

// evalChunk bounds the rows sent through the model at once.
const evalChunk = 1024

// backends holds one backend per name per process: opening CUDA costs
// seconds, and every DoFn instance can share one.
var backends = struct {
	sync.Mutex
	m map[string]accel.Backend
}{m: map[string]accel.Backend{}}

func backend(name string) (accel.Backend, error) {
	backends.Lock()
	defer backends.Unlock()
	if b, ok := backends.m[name]; ok {
		return b, nil
	}
	b, err := accel.Open(name)
	if err != nil {
		return nil, err
	}
	backends.m[name] = b
	return b, nil
}

// computeMu serializes all shardMath in a process. Runners run several
// bundles at once, but a group's shards already use every core (below),
// and concurrent calls into a multi-threaded BLAS were measured to
// oversubscribe the cores twentyfold.
var computeMu sync.Mutex

// shardMath is one model's math on shards: it computes a shard's part of a
// round (a Partial) on the accel backend. Each roundFn instance holds one
// per model; it is not a Beam worker.
type shardMath struct {
	spec  *Spec
	m     *model.Model
	be    accel.Backend
	slots []*slot // one per shard computed at once
}

// slot holds what one shard's computation writes to: a workspace on the
// backend and the batch being gathered.
type slot struct {
	ws      *model.Workspace
	scratch batchScratch
	seeds   []uint64         // the batch's dropout seeds
	teacher *model.Workspace // the distillation teacher's; nil without
	logits  []float32        // the teacher's logits of the batch
	moved   []float32        // Augment's scratch row
}

func newShardMath(spec *Spec) (*shardMath, error) {
	m, err := model.New(spec.Model)
	if err != nil {
		return nil, err
	}
	be, err := backend(spec.Accel)
	if err != nil {
		return nil, err
	}
	return &shardMath{spec: spec, m: m, be: be}, nil
}

func (w *shardMath) close() {
	if w == nil {
		return
	}
	for _, sl := range w.slots {
		sl.ws.Close()
		if sl.teacher != nil {
			sl.teacher.Close()
		}
	}
	w.slots = nil
}

// group computes one(slot, i) for each shard i of a group and adds the
// partials in shard order into the group's single partial; the Beam rounds
// and the plain loop both go through here, so they add in the same order.
//
// On a CPU backend (accel.Concurrent) the shards run in parallel, one per
// core, each on one BLAS thread with its own workspace: a step's GEMMs of
// 32 to 64 rows run faster on one thread each than on all threads in turn
// (measured for the 784-300-100-10 MLP: 1.30 vs 1.64 ms per 64-row
// gradient), and the element-wise work runs in parallel too. Each shard's
// arithmetic is the same in any schedule, so the sum's bits are too.
func (w *shardMath) group(group []int, one func(sl *slot, i int) (transforms.Partial, error)) (transforms.Partial, error) {
	computeMu.Lock()
	defer computeMu.Unlock()
	par := 1
	if c, ok := w.be.(accel.Concurrent); ok {
		if par = min(len(group), runtime.GOMAXPROCS(0)); par > 1 {
			defer c.SetThreads(c.SetThreads(1))
		}
	}
	for len(w.slots) < par {
		ws := model.NewWorkspace(w.m, w.be)
		if err := ws.SetRegularization(w.spec.Reg); err != nil {
			ws.Close()
			return transforms.Partial{}, err
		}
		w.slots = append(w.slots, &slot{ws: ws})
	}
	parts := make([]transforms.Partial, len(group))
	errs := make([]error, len(group))
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, sl := range w.slots[:par] {
		wg.Go(func() {
			for j := int(next.Add(1) - 1); j < len(group); j = int(next.Add(1) - 1) {
				parts[j], errs[j] = one(sl, group[j])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return transforms.Partial{}, err
	}
	sum := transforms.AddPartials(parts)
	sum.Shard = group[0]
	return sum, nil
}

// syncPartial sums the loss gradient over the shard's rows of round's
// global mini-batch.
func (w *shardMath) syncPartial(ctx context.Context, sl *slot, shard int, info shardio.ShardInfo, epoch, round int, params []float32, sel rowSelect) (transforms.Partial, error) {
	s, err := loadShard(ctx, w.spec.Data, info)
	if err != nil {
		return transforms.Partial{}, err
	}
	rounds := w.spec.Rounds
	buckets := memoized(memoKey(info, "sync", epoch, w.spec.Seed, rounds, sel), func() [][]int32 {
		return syncBuckets(s, epoch, w.spec.Seed, rounds, sel)
	})
	idx := buckets[round]
	p := transforms.Partial{Shard: shard, Examples: int64(len(idx))}
	if len(idx) == 0 {
		p.Sum = make([]float32, w.m.NumParams())
		return p, nil
	}
	for lo := 0; lo < len(idx); lo += evalChunk {
		part := idx[lo:min(lo+evalChunk, len(idx))]
		b := s.batch(part, &sl.scratch)
		if err := w.regularize(sl, &b, s, part, epoch); err != nil {
			return p, err
		}
		grad, loss, err := sl.ws.GradientView(params, b)
		if err != nil {
			return p, fmt.Errorf("%s: %w", info.Path, err)
		}
		if p.Sum == nil {
			p.Sum = slices.Clone(grad)
		} else {
			for i, g := range grad {
				p.Sum[i] += g
			}
		}
		p.LossSum += loss
	}
	return p, nil
}

// localPartial runs LocalSteps optimizer steps on the shard's next rows of
// the epoch, from st, and returns the resulting parameters and optimizer
// state weighted by the rows used (the Combine sums, the step divides).
func (w *shardMath) localPartial(ctx context.Context, sl *slot, shard int, info shardio.ShardInfo, epoch, round int, st *State, sel rowSelect) (transforms.Partial, error) {
	s, err := loadShard(ctx, w.spec.Data, info)
	if err != nil {
		return transforms.Partial{}, err
	}
	order := memoized(memoKey(info, "local", epoch, w.spec.Seed, 0, sel), func() [][]int32 {
		return [][]int32{epochOrder(s, epoch, w.spec.Seed, sel)}
	})[0]
	k, b := w.spec.LocalSteps, w.spec.LocalBatch
	start := round * k * b
	p := transforms.Partial{Shard: shard}
	if start >= len(order) {
		return p, nil // this shard has run out of rows this epoch
	}
	opt, err := optimizerFor(w.spec, st)
	if err != nil {
		return p, err
	}
	// The steps train the workspace's own parameters in place where the
	// backend allows (host memory), and step with its gradient buffer:
	// nothing is copied per step.
	params := sl.ws.Params()
	if params == nil {
		params = make([]float32, len(st.Params))
	}
	copy(params, st.Params)
	for step := 0; step < k && start < len(order); step++ {
		idx := order[start:min(start+b, len(order))]
		start += len(idx)
		b := s.batch(idx, &sl.scratch)
		if err := w.regularize(sl, &b, s, idx, epoch); err != nil {
			return p, err
		}
		grad, loss, err := sl.ws.GradientView(params, b)
		if err != nil {
			return p, fmt.Errorf("%s: %w", info.Path, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return p, fmt.Errorf("train: the loss became %v in epoch %d, round %d, on %s: lower the learning rate (the last good checkpoint is kept)", loss, epoch, round, info.Path)
		}
		if err := stepWith(opt, w.spec, params, grad, len(idx)); err != nil {
			return p, err
		}
		p.LossSum += loss
		p.Examples += int64(len(idx))
	}
	n := float32(p.Examples)
	p.Sum = make([]float32, 0, len(params)+len(st.Opt))
	for _, v := range params {
		p.Sum = append(p.Sum, v*n)
	}
	for _, v := range optState(opt) {
		p.Sum = append(p.Sum, v*n)
	}
	return p, nil
}

// stepWith takes one optimizer step with the mean of a gradient sum over
// n rows (gradSum itself may change: frozen zeros, shared clusters).
// Under Maximize the optimizer climbs the log-likelihood, whose gradient
// is the loss gradient negated.
func stepWith(opt *model.Optimizer, spec *Spec, params, gradSum []float32, n int) error {
	share, err := sharedGroups(spec)
	if err != nil {
		return err
	}
	scale := 1 / float32(n)
	if spec.Optimizer.Objective == model.Maximize {
		scale = -scale
	}
	if spec.FreezeZeros {
		// A zero weight with a zero gradient and a zero optimizer state
		// (a new optimizer's) stays zero under every method: momentum,
		// Nesterov, Adam, L2 (decays to zero), L1 (proximal at zero),
		// clipping (the norm leaves it out). So the mask needs no storage.
		for i, v := range params {
			if v == 0 {
				gradSum[i] = 0
			}
		}
	}
	if share != nil {
		// The clusters sum their members' scaled gradients.
		for i := range gradSum {
			gradSum[i] *= scale
		}
		share.apply(gradSum)
		scale = 1
	}
	opt.StepScaled(params, gradSum, scale)
	return nil
}

// evalPartial sums loss and correct predictions over a whole shard; for
// classifiers Vec holds the k×k confusion counts (row: true class,
// column: predicted), exact in float32 below 2²⁴ per cell.
func (w *shardMath) evalPartial(ctx context.Context, sl *slot, shard int, info shardio.ShardInfo, params []float32, sel rowSelect) (transforms.Partial, error) {
	s, err := loadShard(ctx, w.spec.Data, info)
	if err != nil {
		return transforms.Partial{}, err
	}
	p := transforms.Partial{Shard: shard}
	k := w.m.Outputs()
	var classes []int
	if w.m.Classifier() {
		p.Sum = make([]float32, k*k)
		classes = make([]int, evalChunk)
	}
	var rowsSel []int32
	for i, id := range s.IDs {
		if sel.keep(id, w.spec.Seed) {
			rowsSel = append(rowsSel, int32(i))
		}
	}
	p.Examples = int64(len(rowsSel))
	for lo := 0; lo < len(rowsSel); lo += evalChunk {
		idx := rowsSel[lo:min(lo+evalChunk, len(rowsSel))]
		b := s.batch(idx, &sl.scratch)
		loss, correct, err := sl.ws.EvaluateClasses(params, b, classes)
		if err != nil {
			return p, fmt.Errorf("%s: %w", info.Path, err)
		}
		p.LossSum += loss
		p.Correct += int64(correct)
		if classes != nil {
			for i := range idx {
				p.Sum[int(b.Y[i])*k+classes[i]]++
			}
		}
	}
	return p, nil
}

// applySync takes the round's optimizer step with the summed gradient.
func applySync(spec *Spec, st *State, sum transforms.Partial, epoch, round int) error {
	if math.IsNaN(sum.LossSum) || math.IsInf(sum.LossSum, 0) {
		return fmt.Errorf("train: the loss became %v in epoch %d, round %d: lower the learning rate (the last good checkpoint is kept)", sum.LossSum, epoch, round)
	}
	if sum.Examples == 0 {
		return nil
	}
	opt, err := optimizerFor(spec, st)
	if err != nil {
		return err
	}
	if err := stepWith(opt, spec, st.Params, sum.Sum, int(sum.Examples)); err != nil {
		return err
	}
	st.Step = opt.Steps()
	st.Opt = optState(opt)
	st.LossSum += sum.LossSum
	st.Examples += sum.Examples
	return nil
}

// applyLocal replaces st's parameters and optimizer state with the
// examples-weighted average of the shards' (st may arrive without them:
// roundFn sends only its counts when the average replaces them).
func applyLocal(spec *Spec, st *State, sum transforms.Partial) error {
	if sum.Examples == 0 {
		if st.Params == nil {
			return fmt.Errorf("train: a local round with no rows lost the parameters")
		}
		return nil
	}
	n := mustModel(spec).NumParams()
	if want := n + optLen(spec, n); len(sum.Sum) != want {
		return fmt.Errorf("train: local round returned %d values, want %d", len(sum.Sum), want)
	}
	inv := 1 / float64(sum.Examples)
	avg := make([]float32, len(sum.Sum))
	for i, v := range sum.Sum {
		avg[i] = float32(float64(v) * inv)
	}
	st.Params, st.Opt = avg[:n:n], avg[n:]
	st.Step += int64(spec.LocalSteps)
	st.LossSum += sum.LossSum
	st.Examples += sum.Examples
	return nil
}

// optLen is the length of the flattened optimizer state of spec for n
// parameters (optState's).
func optLen(spec *Spec, n int) int {
	switch spec.Optimizer.Method {
	case model.Momentum:
		return n
	case model.Adam:
		return 2 * n
	}
	return 0
}
