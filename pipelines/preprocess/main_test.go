package preprocess

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// TestMain parses Beam's flags (--runner, default prism) for Run.
func TestMain(m *testing.M) { ptest.Main(m) }
