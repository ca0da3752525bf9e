package e2e

import (
	"os"
	"testing"

	"github.com/lightbeam-ml/lightbeam/cli/clitest"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gcstest.Stop()
	clitest.Cleanup()
	os.Exit(code)
}
