// Package prune chooses which weights of a trained model to drop. It is
// plain Go with no Beam imports; a trainer calls it between epochs and
// compress/artifact stores what survives.
//
// Unstructured (magnitude) pruning zeroes the fraction s of weights with
// the smallest |w|, per tensor (Magnitude) or with one threshold across
// tensors (Global). The result is a Mask: Apply zeroes the pruned weights,
// and a trainer re-applies it after every optimizer step so they stay 0.
// Gradual pruning raises s over training with Zhu & Gupta's (2017) cubic
// schedule (Cubic):
//
//	s_t = s_f + (s_i − s_f) · (1 − t/n)³,   s_t = s_f for t ≥ n
//
// Structured pruning removes whole hidden neurons of an MLP: NeuronScores
// ranks neuron i of a layer by the L2 norm of its incoming weights,
//
//	score_i = ‖W[i, :]‖₂
//
// and KeepNeurons drops the lowest-scoring ones, deleting row i of that
// layer's weight, entry i of its bias and column i of the next layer's
// weight, so the network computes the same function minus those neurons.
//
// Sparsity outside [0, 1) and NaN weights are returned as errors; slices
// whose lengths do not match their shapes are programmer errors and panic.
package prune
