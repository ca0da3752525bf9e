package gguf

import (
	"fmt"
	"path"
	"runtime"
	"strings"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/export"
)

// Model returns a lightbeam model (src: a model file's or a compressed
// artifact's) as the bytes of a GGUF file, and its tensors. Tensors keep
// lightbeam's names and shapes; the metadata holds src's (the
// architecture, the preprocessing scale) and lightbeam.source. An
// artifact's Q8_0 and Q4_0 tensors of whole blocks keep their bytes,
// which are the blocks gguf-py writes for the values they hold. Other
// tensors are the float32 values the file holds, quantized to q by
// Choose's rules when q is not F32.
func Model(src *export.Source, q Type) ([]byte, []TensorInfo, error) {
	f := File{KV: SortedKV(src.Meta,
		KV{"general.name", strings.TrimSuffix(path.Base(src.Path), path.Ext(src.Path))},
		KV{"general.alignment", uint32(Alignment)},
		KV{"lightbeam.source", src.Path})}
	var data [][]byte
	for _, spec := range src.Model.Layout() {
		values := src.Params[spec.Offset : spec.Offset+spec.Size()]
		shape := make([]int64, len(spec.Shape))
		for i, s := range spec.Shape {
			shape[i] = int64(s)
		}
		typ, raw := F32, []byte(nil)
		if st := src.Stored[spec.Name]; st != nil && (st.Enc.Kind == artifact.Q8_0 || st.Enc.Kind == artifact.Q4_0) {
			if b, err := st.GGUFBlocks(); err == nil {
				typ, raw = Q8_0, b
				if st.Enc.Kind == artifact.Q4_0 {
					typ = Q4_0
				}
			}
		}
		if raw == nil && q != F32 {
			var err error
			if typ, _, err = Choose(spec.Name, "F32", spec.Shape, q, false); err != nil {
				return nil, nil, err
			}
		}
		if raw == nil {
			var err error
			if raw, err = Encode(typ, values, runtime.GOMAXPROCS(0)); err != nil {
				return nil, nil, fmt.Errorf("gguf: %s: tensor %q: %w", src.Path, spec.Name, err)
			}
		}
		f.Tensors = append(f.Tensors, TensorInfo{Name: spec.Name, Shape: shape, Type: typ})
		data = append(data, raw)
	}
	size, err := f.Layout()
	if err != nil {
		return nil, nil, err
	}
	out, err := f.Header()
	if err != nil {
		return nil, nil, err
	}
	body := make([]byte, size)
	for i, t := range f.Tensors {
		copy(body[t.Offset:], data[i])
	}
	return append(out, body...), f.Tensors, nil
}
