package compress

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/infer"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// TimeArtifact times inference on LatencyRows rows of the compressed
// artifact at path with its own kernels (sparse, int8 or dense per layer,
// the fastest) on the backend accelName selects, as the compress report
// times the artifact it writes, and says which kernels ran on which
// backend. A model file gives zero and "".
func TimeArtifact(ctx context.Context, path, accelName string) (float64, string, error) {
	raw, err := storage.ReadFile(ctx, path)
	if err != nil {
		return 0, "", err
	}
	m, _, _, a, err := artifact.DecodeModel(raw, path)
	if err != nil || a == nil {
		return 0, "", err
	}
	be, _, err := accel.Select(accelName)
	if err != nil {
		return 0, "", err
	}
	defer be.Close()
	ms, kernels, _, err := timeArtifact(be, m, a, latencyInput(m.Inputs()))
	return ms, fmt.Sprintf("%s on %s", kernels, be.Name()), err
}

// latencyInput returns LatencyRows rows of d random features: the
// kernels' cost does not depend on the values.
func latencyInput(d int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, LatencyRows*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// timeArtifact loads art (the model m) on be, each layer on its fastest
// kernel, and returns the median of three inferences of x in ms, the
// kernels, and the bytes the backend holds.
func timeArtifact(be accel.Backend, m *model.Model, art *artifact.Artifact, x []float32) (float64, string, int, error) {
	p, err := infer.Load(be, m, art, infer.KernelAuto)
	if err != nil {
		return 0, "", 0, err
	}
	defer p.Close()
	ms, err := infer.Latency(p, x, LatencyRows, 3)
	return ms, p.String(), p.Bytes(), err
}
