package preprocess

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// directRuns counts pipelines run by the "test-direct" runner: the direct
// runner, counted, so that a test can prove --runner reached Run.
var directRuns atomic.Int64

func init() {
	beam.RegisterRunner("test-direct", func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		directRuns.Add(1)
		return direct.Execute(ctx, p)
	})
}

// TestMain parses Beam's flags (--runner, default prism) for Run.
func TestMain(m *testing.M) { ptest.Main(m) }
