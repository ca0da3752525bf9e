package compress

import (
	"fmt"
	"strings"
)

// Table is the report for people: bytes, accuracy and loss (when the run
// evaluated: its recipe had Data) and inference time, before and after.
// A report read back from report.json does not record Data, and shows no
// accuracy rows.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-26s %14s %14s\n", "", "before", "after")
	fmt.Fprintf(&b, "%-26s %14d %14d   (%.1fx smaller, %.2f bits/weight, sparsity %.1f%%)\n", "bytes", r.BytesBefore, r.BytesAfter, r.Ratio, r.BitsPerWeight, 100*r.Sparsity)
	if r.Recipe.Data != "" {
		fmt.Fprintf(&b, "%-26s %13.2f%% %13.2f%%\n", "test accuracy", 100*r.AccuracyBefore, 100*r.AccuracyAfter)
		fmt.Fprintf(&b, "%-26s %14.4f %14.4f\n", "test loss", r.LossBefore, r.LossAfter)
	}
	fmt.Fprintf(&b, "%-26s %14.1f %14.1f   (%s on %s)\n", fmt.Sprintf("inference ms, %d rows", LatencyRows), r.LatencyBeforeMS, r.LatencyAfterMS, r.Kernels, r.Backend)
	return b.String()
}
