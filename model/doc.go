// Package model defines lightbeam's models (softmax regression, linear
// regression, MLP), their losses and gradients, the optimizers that update
// them, their evaluation (loss and correct rows), and the safetensors files
// they are saved in.
// It is plain Go with no Beam imports; the train pipeline calls it from its
// DoFns.
//
// # Parameters
//
// A Model is an immutable description (architecture and layer sizes). Its
// parameters live in ONE flat []float32 so that shards' gradients and
// models can be summed and averaged as one vector. Model.Layout names the
// tensors inside it the way PyTorch names nn.Linear's, weight [out,in]
// then bias [out] per layer:
//
//	mlp 784-300-100-10:  fc1.weight [300,784] fc1.bias [300] fc2.weight [100,300] …
//	softmax 784-10:      linear.weight [10,784] linear.bias [10]
//
// # Data flow of one training round
//
//	trainer (per shard)                         model
//	  params []float32 ───────────────▶ Workspace.Gradient(params, batch, grad)
//	  batch of rows (dense or CSR)  ──▶   upload params + batch once,
//	                                      forward/backward in accel buffers,
//	  grad += Σ_rows ∇loss ◀────────────   download the gradient once
//	Combine: Σ grad over shards, Σ n
//	  grad /= N;  Optimizer.Step(params, grad)   (host, flat vector)
//	every epoch: Workspace.Evaluate (loss sum, correct rows); EncodeCheckpoint
//
// The forward pass of layer l is Z_l = H_{l−1}·W_lᵀ + b_l, H_l = ReLU(Z_l)
// for hidden layers; the backward pass, from δ = ∂loss/∂Z_l, is
//
//	∂W_l = δᵀ·H_{l−1},   ∂b_l = Σ_rows δ,   δ_{l−1} = (δ·W_l) ⊙ [H_{l−1} > 0]
//
// A Workspace binds a Model to an accel.Backend and keeps its buffers
// between calls; it grows them to the largest batch seen. Sparse batches
// are densified on the host before upload.
//
// # Losses and the objective
//
// Classifiers use softmax cross-entropy, −log p(y|x); Linear uses the
// squared error ‖z − y‖² summed over targets. Gradient and Evaluate return
// sums over rows. The log-likelihood is −loss: an optimizer configured
// with Objective Maximize ascends the gradient it is given, so the trainer
// may pass −∇loss as ∇ℓ and obtain the same parameters as descent.
//
// # Files
//
// Models and checkpoints are safetensors files (F32 tensors, JSON header,
// "__metadata__" with lightbeam.arch, lightbeam.sizes, lightbeam.version
// and the caller's strings). Python reads them with
// safetensors.numpy.load_file; testdata/predict.py reproduces predictions.
package model
