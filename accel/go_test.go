package accel_test

import (
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/accel/acceltest"
)

func TestGoConformance(t *testing.T) {
	acceltest.Run(t, accel.NewGo())
}
