package nightly

// One model's way through a run: skipped if its done record exists, else
// compressed (or quantized, for a checkpoint) into OUT/DATE/NAME, reusing
// what a killed run left for the same hash; then gated, marked complete
// (nightly.json), published (LATEST) and recorded done (done/HASH.json),
// in an order that leaves every state a kill can leave safe.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lightbeam-ml/lightbeam/pipelines/compress"
	"github.com/lightbeam-ml/lightbeam/pipelines/llmeval"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// marker is nightly.json: what an output is, written when it is complete.
type marker struct {
	Name   string  `json:"name"`
	Model  string  `json:"model"`
	Hash   string  `json:"hash"`
	Recipe string  `json:"recipe"`
	Date   string  `json:"date"`
	Passed bool    `json:"gate_passed"`
	Gate   []Check `json:"gate,omitempty"`
}

// compressModel takes one model through the run: skip it if done, else
// compress it (or reuse a compress output that a killed run finished),
// gate it, mark it complete, record it done, and move LATEST if it passed.
func (r *runner) compressModel(ctx context.Context, s source) ModelRun {
	name := s.name
	mr := ModelRun{Name: name, Model: s.path}
	fail := func(err error) ModelRun {
		mr.Status, mr.Reason = Failed, err.Error()
		return mr
	}
	if s.err != nil {
		return fail(s.err)
	}
	hash, err := contentHash(ctx, r.recipe, s.files)
	if err != nil {
		return fail(err)
	}
	mr.Hash = hash
	donePath := storage.Join(r.c.Out, name, doneDir, hash+".json")
	if raw, err := storage.ReadFile(ctx, donePath); err == nil {
		var m marker
		if json.Unmarshal(raw, &m) == nil {
			mr.Output = storage.Join(r.c.Out, m.Date, name)
		}
		mr.Status, mr.Reason = Skipped, "already compressed with this recipe ("+mr.Output+")"
		return mr
	} else if !storage.IsNotExist(err) {
		return fail(err)
	}

	// An output that an earlier, killed run began for this hash is finished
	// where it is, under its own date; else this run's date gets one.
	date, err := unfinished(ctx, r.c.Out, name, hash)
	if err != nil {
		return fail(err)
	}
	if date == "" {
		date = r.c.Date
	}
	out := storage.Join(r.c.Out, date, name)
	mr.Output = out
	res, err := r.compressOnce(ctx, s, out, hash)
	if err != nil {
		return fail(err)
	}
	mr.Ratio, mr.BytesAfter, mr.AccuracyBefore, mr.AccuracyAfter = res.Ratio, res.Bytes, res.AccuracyBefore, res.AccuracyAfter
	mr.PerplexityRatio, mr.KL, mr.Top1 = res.eval.PerplexityRatio, res.eval.KL, res.eval.Top1
	mr.Gate = check(r.gate, res)
	passed, why := verdict(mr.Gate)
	m := marker{Name: name, Model: s.path, Hash: hash, Recipe: r.c.Recipe, Date: date, Passed: passed, Gate: mr.Gate}
	mb, _ := json.MarshalIndent(m, "", "  ")
	mb = append(mb, '\n')
	// The order makes every state a kill can leave safe: the marker says the
	// output is complete, LATEST may then point at it, and the done record,
	// last, says this model + recipe needs no more work (a kill before it
	// means the next run reuses the output and writes the rest again).
	if err := storage.WriteBytes(ctx, storage.Join(out, MarkerFile), mb); err != nil {
		return fail(err)
	}
	if passed {
		if err := r.moveLatest(ctx, name, date); err != nil {
			return fail(err)
		}
	}
	if err := storage.WriteBytes(ctx, donePath, mb); err != nil {
		return fail(err)
	}
	if !passed {
		mr.Status, mr.Reason = GateFailed, "gate failed: "+strings.Join(why, ", ")+"; LATEST left where it was"
		return mr
	}
	mr.Status = Done
	return mr
}

// unfinished returns the date of an output of name that a run began for
// hash and did not mark complete, or "".
func unfinished(ctx context.Context, out, name, hash string) (string, error) {
	pending, err := storage.List(ctx, storage.Join(out, "*", name, pendingFile))
	if err != nil {
		return "", err
	}
	for _, p := range pending {
		dir := storage.Dir(p)
		if storage.Dir(storage.Dir(dir)) != strings.TrimSuffix(out, "/") || !sameHash(ctx, dir, hash) {
			continue
		}
		if done, err := storage.Exists(ctx, storage.Join(dir, MarkerFile)); err != nil {
			return "", err
		} else if !done {
			return storage.Base(storage.Dir(dir)), nil
		}
	}
	return "", nil
}

// compressOnce compresses s into out (a train output with compress, a
// checkpoint with pipelines/quantize) and returns its result; a
// compression that a killed run finished for the same hash is reused.
func (r *runner) compressOnce(ctx context.Context, s source, out, hash string) (*result, error) {
	reuse := sameHash(ctx, out, hash)
	if s.checkpoint {
		if r.base.Prune != "magnitude" || len(r.base.Sparsity) > 0 || r.base.PruneSteps > 0 || r.base.CodebookEpochs > 0 {
			return nil, fmt.Errorf("%s is a checkpoint: the recipe may only set quant (q8_0, q4_0 or q4_k; for a model directory a llama-quantize preset) for it", s.path)
		}
		var rep quantize.Report
		if raw, err := storage.ReadFile(ctx, storage.Join(out, quantize.ReportFile)); reuse && err == nil && json.Unmarshal(raw, &rep) == nil {
			fmt.Fprintf(r.log, "nightly: %s: reusing the finished quantization in %s\n", s.name, out)
		} else {
			if err := startOutput(ctx, out, hash); err != nil {
				return nil, err
			}
			fmt.Fprintf(r.log, "nightly: %s: quantizing the checkpoint into %s\n", s.name, out)
			// A model directory becomes a llama.cpp GGUF, evaluated against
			// its source on --eval-text; other checkpoints keep their own
			// tensor names (raw).
			qc := quantize.Config{Checkpoint: s.path, Arch: quantize.ArchRaw, Out: out, Quant: r.base.Quant, Overwrite: true, Runner: r.c.Runner}
			if s.model {
				qc.Arch = quantize.ArchAuto
				if len(r.c.EvalText) > 0 || r.c.EvalSentences != "" {
					ec, err := llmeval.ForModel(ctx, s.path, llmeval.Config{Text: r.c.EvalText, Sentences: r.c.EvalSentences,
						Ctx: r.c.EvalCtx, MaxWindows: r.c.EvalMaxWindows, Accel: r.c.Accel, Runner: r.c.Runner})
					if err != nil {
						return nil, err
					}
					qc.Evaluate = llmeval.Compare(ec, r.log)
				}
			}
			q, err := quantize.Run(ctx, qc, r.log)
			if err != nil {
				return nil, err
			}
			rep = *q
		}
		res := &result{Ratio: rep.Ratio, Bytes: int(rep.BytesOut), SQNRdB: rep.SQNRdB}
		if rep.Evaluation != nil {
			if err := json.Unmarshal(rep.Evaluation, &res.eval); err != nil {
				return nil, fmt.Errorf("%s: evaluation: %w", storage.Join(out, quantize.ReportFile), err)
			}
		}
		return res, nil
	}
	var rep compress.Report
	if raw, err := storage.ReadFile(ctx, storage.Join(out, compress.ReportName)); reuse && err == nil && json.Unmarshal(raw, &rep) == nil && rep.Artifact != "" {
		fmt.Fprintf(r.log, "nightly: %s: reusing the finished compression in %s\n", s.name, out)
	} else {
		cc := r.base
		cc.Model, cc.Data, cc.Out, cc.Accel, cc.Runner = s.path, r.c.Data, out, r.c.Accel, r.c.Runner
		cc.Resume, cc.Overwrite = true, true // a killed run's steps are kept; its unfinished output replaced
		if err := startOutput(ctx, out, hash); err != nil {
			return nil, err
		}
		fmt.Fprintf(r.log, "nightly: %s: compressing into %s\n", s.name, out)
		c, err := compress.Run(ctx, cc, r.log)
		if err != nil {
			return nil, err
		}
		rep = *c
	}
	return &result{Ratio: rep.Ratio, Bytes: rep.BytesAfter, Evaluated: r.c.Data != "", AccuracyBefore: rep.AccuracyBefore, AccuracyAfter: rep.AccuracyAfter}, nil
}

// startOutput readies out for a compression of hash: the temporary files
// a killed run left are removed, and the hash is recorded.
func startOutput(ctx context.Context, out, hash string) error {
	if _, err := storage.RemoveTemporaries(ctx, out); err != nil {
		return err
	}
	return storage.WriteBytes(ctx, storage.Join(out, pendingFile), []byte(hash+"\n"))
}

// pendingFile records, in an output being written, the hash of what is
// being compressed, so that a later run reuses a finished compression only
// for the same model and recipe.
const pendingFile = "nightly.pending"

func sameHash(ctx context.Context, out, hash string) bool {
	raw, err := storage.ReadFile(ctx, storage.Join(out, pendingFile))
	return err == nil && strings.TrimSpace(string(raw)) == hash
}
