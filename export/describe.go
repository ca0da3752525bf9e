package export

import (
	"fmt"
	"strings"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/compress/prune"
	"github.com/lightbeam-ml/lightbeam/model"
)

// Describe is what lightbeam inspect prints for a lightbeam file read in
// full: a compressed artifact (by its magic), with each tensor's encoding
// and bytes, or a safetensors model file (path ending in .safetensors),
// with each tensor's shape and sparsity. Any other file is refused with
// the artifact decoder's error. path names the file.
func Describe(raw []byte, path string) (string, error) {
	if a, aerr := artifact.Decode(raw, path); aerr == nil {
		return fmt.Sprintf("%s: lightbeam artifact v%d, %d bytes\n%s", path, a.Version, a.Size, a.Table()), nil
	} else if !strings.HasSuffix(path, ".safetensors") {
		return "", aerr
	}
	ts, meta, err := model.DecodeSafetensors(raw, path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: safetensors (%s), %d bytes\n", path, meta[model.MetaFormat], len(raw))
	fmt.Fprintf(&b, "%-24s %-12s %10s %9s %10s\n", "tensor", "shape", "values", "sparsity", "bytes")
	for _, t := range ts {
		sp := prune.NonZero(t.Data).Sparsity()
		fmt.Fprintf(&b, "%-24s %-12s %10d %8.1f%% %10d\n", t.Name, fmt.Sprint(t.Shape), len(t.Data), 100*sp, 4*len(t.Data))
	}
	return b.String(), nil
}

// DescribeHeader lists a safetensors checkpoint's tensors from its header
// alone (however large the file, size bytes): name, dtype, shape, bytes.
func DescribeHeader(h *model.SafetensorsHeader, size int64, path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: safetensors checkpoint, %d tensors, %d bytes\n", path, len(h.Tensors), size)
	fmt.Fprintf(&b, "%-48s %-6s %-16s %14s\n", "tensor", "dtype", "shape", "bytes")
	for _, t := range h.Tensors {
		fmt.Fprintf(&b, "%-48s %-6s %-16s %14d\n", t.Name, t.DType, fmt.Sprint(t.Shape), t.End-t.Begin)
	}
	return b.String()
}
