package train

import (
	"context"
	"fmt"
	"sync"

	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Dropout and distillation (model.Regularization) act inside a shard's
// gradient: each row's dropout masks are seeded by a hash of its identity,
// the epoch and the run's seed, and a teacher's logits are computed on
// the same rows. Neither depends on the sharding, the worker groups or the
// runner, so Beam and the plain loop train the same bits.

// dropoutSalt keeps the mask seeds apart from the row order's hashes.
const dropoutSalt = 0x64726f706f757421 // "dropout!"

// teacher is a distillation teacher's model and parameters.
type teacher struct {
	m      *model.Model
	params []float32
}

// teachers caches each process's teacher per model file content.
var teachers = struct {
	sync.Mutex
	m map[string]*teacher
}{m: map[string]*teacher{}}

// teacherOf returns spec's teacher, or nil when spec distills nothing.
// The file must still have the SHA-256 that the run started with, and
// the teacher must classify the run's classes from its inputs.
func teacherOf(spec *Spec) (*teacher, error) {
	if spec.Teacher == "" {
		return nil, nil
	}
	teachers.Lock()
	defer teachers.Unlock()
	key := spec.Teacher + "@" + spec.TeacherSHA256
	if t, ok := teachers.m[key]; ok {
		return t, nil
	}
	raw, err := storage.ReadFile(context.Background(), spec.Teacher)
	if err != nil {
		return nil, err
	}
	if sum := fileSHA256(raw); sum != spec.TeacherSHA256 {
		return nil, fmt.Errorf("train: teacher %s changed during the run (SHA-256 %s, was %s)", spec.Teacher, sum, spec.TeacherSHA256)
	}
	m, params, _, err := model.DecodeModel(raw, spec.Teacher)
	if err != nil {
		return nil, err
	}
	if err := checkTeacher(m, spec.Teacher, spec.Model); err != nil {
		return nil, err
	}
	if len(teachers.m) > 4 {
		clear(teachers.m)
	}
	t := &teacher{m: m, params: params}
	teachers.m[key] = t
	return t, nil
}

// checkTeacher reports whether the teacher tm (from file) fits a student
// of configuration sc: a classifier of the same inputs and classes.
func checkTeacher(tm *model.Model, file string, sc model.Config) error {
	if !tm.Classifier() || tm.Inputs() != sc.Inputs || tm.Outputs() != sc.Outputs {
		return fmt.Errorf("train: teacher %s is %s; distillation needs a classifier of %d inputs and %d classes", file, tm, sc.Inputs, sc.Outputs)
	}
	return nil
}

// regularize adds to b (rows idx of s, in epoch) what the spec's
// regularization needs: the rows moved by Augment (b's rows are the
// slot's copies), the rows' dropout seeds, and the teacher's logits
// (of the moved rows) computed in the slot's teacher workspace.
func (w *shardMath) regularize(sl *slot, b *model.Batch, s *shardRows, idx []int32, epoch int) error {
	if a := w.spec.Augment; a != nil {
		d := s.Features
		if len(sl.moved) < d {
			sl.moved = make([]float32, d)
		}
		for k, i := range idx {
			a.apply(b.X[k*d:(k+1)*d], sl.moved, rowHash(s.IDs[i], epoch, w.spec.Seed^augmentSalt))
		}
	}
	r := w.spec.Reg
	if r.Dropout > 0 || r.InputDropout > 0 {
		sl.seeds = sl.seeds[:0]
		for _, i := range idx {
			sl.seeds = append(sl.seeds, rowHash(s.IDs[i], epoch, w.spec.Seed^dropoutSalt))
		}
		b.Seeds = sl.seeds
	}
	if r.Distill == 0 {
		return nil
	}
	t, err := teacherOf(w.spec)
	if err != nil {
		return err
	}
	if sl.teacher == nil {
		sl.teacher = model.NewWorkspace(t.m, w.be)
	}
	n := b.N * t.m.Outputs()
	if cap(sl.logits) < n {
		sl.logits = make([]float32, n)
	}
	b.Teacher = sl.logits[:n]
	if err := sl.teacher.Logits(t.params, *b, b.Teacher); err != nil {
		return fmt.Errorf("teacher %s: %w", w.spec.Teacher, err)
	}
	return nil
}
