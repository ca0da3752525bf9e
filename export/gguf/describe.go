package gguf

import (
	"fmt"
	"io"
	"strings"
)

// Describe is what lightbeam inspect prints for a GGUF file: its metadata
// (long strings cut) and each tensor's type, shape, bytes and bits per
// weight, from the header read from r (the file has size bytes). path
// names the file.
func Describe(r io.Reader, size int64, path string) (string, error) {
	f, _, err := Read(r, size, path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: GGUF, %d tensors, %d bytes\n", path, len(f.Tensors), size)
	for _, kv := range f.KV {
		if v, ok := kv.Value.(string); ok && len(v) > 120 {
			kv.Value = v[:117] + "..."
		}
		fmt.Fprintf(&b, "  %s = %v\n", kv.Key, kv.Value)
	}
	fmt.Fprintf(&b, "%-48s %-6s %-16s %14s %6s\n", "tensor", "type", "shape", "bytes", "bits")
	for _, t := range f.Tensors {
		n, _ := t.Bytes()
		fmt.Fprintf(&b, "%-48s %-6s %-16s %14d %6.2f\n", t.Name, t.Type, fmt.Sprint(t.Shape), n, 8*float64(n)/float64(t.Elements()))
	}
	return b.String(), nil
}
