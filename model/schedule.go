package model

import (
	"fmt"
	"math"
)

// ScheduleKind names a learning-rate schedule.
type ScheduleKind string

// The schedules; t counts optimizer steps from 0.
const (
	// Constant: η_t = η.
	Constant ScheduleKind = "constant"
	// StepDecay: η_t = η·γ^⌊t/S⌋.
	StepDecay ScheduleKind = "step"
	// Cosine: η_t = η_min + ½(η − η_min)(1 + cos(π·min(t,T)/T)).
	Cosine ScheduleKind = "cosine"
	// InvSqrt: η_t = η/√(1+t).
	InvSqrt ScheduleKind = "invsqrt"
)

// Schedule gives the learning rate at each step.
type Schedule struct {
	// Kind is the schedule. Optional. Defaults to Constant.
	Kind ScheduleKind
	// LR is the base learning rate η. Required, > 0.
	LR float64
	// StepSize S and Gamma γ are StepDecay's period and factor. Required for StepDecay.
	StepSize int
	Gamma    float64
	// Steps T is Cosine's length; after it the rate stays at MinLR. Required for Cosine.
	Steps int
	// MinLR η_min is Cosine's final rate. Optional. Defaults to 0.
	MinLR float64
}

// Validate reports a schedule that cannot be used.
func (s Schedule) Validate() error {
	if !(s.LR > 0) || math.IsInf(s.LR, 0) {
		return fmt.Errorf("model: learning rate %v, want a finite value > 0", s.LR)
	}
	switch s.Kind {
	case "", Constant, InvSqrt:
	case StepDecay:
		if s.StepSize < 1 || !(s.Gamma > 0) {
			return fmt.Errorf("model: step schedule needs step size ≥ 1 and gamma > 0, got %d and %v", s.StepSize, s.Gamma)
		}
	case Cosine:
		if s.Steps < 1 || s.MinLR < 0 || s.MinLR > s.LR {
			return fmt.Errorf("model: cosine schedule needs steps ≥ 1 and 0 ≤ min lr ≤ lr, got %d and %v", s.Steps, s.MinLR)
		}
	default:
		return fmt.Errorf("model: unknown schedule %q (want constant, step, cosine or invsqrt)", s.Kind)
	}
	return nil
}

// At returns the learning rate of step t (t ≥ 0).
func (s Schedule) At(t int64) float64 {
	switch s.Kind {
	case StepDecay:
		return s.LR * math.Pow(s.Gamma, float64(t/int64(s.StepSize)))
	case Cosine:
		f := math.Min(float64(t), float64(s.Steps)) / float64(s.Steps)
		return s.MinLR + 0.5*(s.LR-s.MinLR)*(1+math.Cos(math.Pi*f))
	case InvSqrt:
		return s.LR / math.Sqrt(1+float64(t))
	default:
		return s.LR
	}
}
