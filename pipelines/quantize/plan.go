package quantize

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/compress/artifact"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/llm"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// IndexFile is the name of a sharded checkpoint's index, as Hugging Face
// writes it: {"metadata": {...}, "weight_map": {tensor: shard file}}.
const IndexFile = "model.safetensors.index.json"

// maxIndexBytes bounds the index file, read whole.
const maxIndexBytes = 64 << 20

// Resolve returns the safetensors files of the checkpoint at path: the
// file itself, the shards an index file names (or the index inside a
// directory), or a directory's *.safetensors files; and the tensor →
// file map of the index, if any.
func Resolve(ctx context.Context, path string) ([]string, map[string]string, error) {
	p := strings.TrimSuffix(path, "/")
	switch {
	case strings.HasSuffix(p, ".safetensors"):
		return []string{p}, nil, nil
	case strings.HasSuffix(p, ".json"):
		return readIndex(ctx, p)
	}
	idx := storage.Join(p, IndexFile)
	if ok, err := storage.Exists(ctx, idx); err != nil {
		return nil, nil, err
	} else if ok {
		return readIndex(ctx, idx)
	}
	files, err := storage.List(ctx, storage.Join(p, "*.safetensors"))
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("checkpoint %s: no %s and no *.safetensors files in it", path, IndexFile)
	}
	sort.Strings(files)
	return files, nil, nil
}

// readIndex reads a sharded checkpoint's index file.
func readIndex(ctx context.Context, path string) ([]string, map[string]string, error) {
	// An index is read whole: bound it first (a real one, even of a
	// model with thousands of tensors, is well under a megabyte).
	if size, err := storage.Size(ctx, path); err != nil {
		return nil, nil, err
	} else if size > maxIndexBytes {
		return nil, nil, fmt.Errorf("checkpoint index %s: %d bytes, more than the %d an index may have", path, size, maxIndexBytes)
	}
	raw, err := storage.ReadFile(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, nil, fmt.Errorf("checkpoint index %s: %w", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("checkpoint index %s: no weight_map", path)
	}
	dir := storage.Dir(path)
	byFile := map[string]string{}
	var files []string
	for name, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "/") || strings.Contains(f, `\`) || f == "." || f == ".." {
			return nil, nil, fmt.Errorf("checkpoint index %s: tensor %q names shard %q, which is not a file beside the index", path, name, f)
		}
		full := storage.Join(dir, f)
		if _, ok := byFile[full]; !ok {
			byFile[full] = f
			files = append(files, full)
		}
		idx.WeightMap[name] = full
	}
	sort.Strings(files)
	return files, idx.WeightMap, nil
}

// ReadHeader reads the header of the safetensors file at path by range:
// its first 8 bytes, then the JSON header.
func ReadHeader(ctx context.Context, path string) (*model.SafetensorsHeader, error) {
	h, _, err := readHeader(ctx, path)
	return h, err
}

// readHeader is ReadHeader, with the generation of the file it was read
// from (storage.Stat): the chunks of the plan read that version or fail.
func readHeader(ctx context.Context, path string) (*model.SafetensorsHeader, int64, error) {
	return llm.ReadHeader(ctx, path)
}

// Tensor is one tensor of the checkpoint and what it becomes.
type Tensor struct {
	Name  string  `json:"name"`
	File  string  `json:"-"`
	Gen   int64   `json:"-"`     // File's generation when planned (storage.Stat)
	DType string  `json:"dtype"` // the checkpoint's
	Shape []int64 `json:"shape"` // row-major, outermost first
	Begin int64   `json:"-"`     // byte range in File
	End   int64   `json:"-"`

	Type   gguf.Type     `json:"-"`
	Kind   artifact.Kind `json:"-"`                // --format=lightbeam: the record's kind, instead of Type
	Reason string        `json:"reason,omitempty"` // why Type (or Kind) is not the recipe's
	Offset int64         `json:"-"`                // in the output's data section (GGUF), or the file (lightbeam)
	Bytes  int64         `json:"-"`                // lightbeam: the record's size, header included

	// Model mode (package llm): Name is llama.cpp's and Source the
	// checkpoint's; PermuteHeads > 0 reorders the rows (llm.Tensor's);
	// Data holds a generated tensor's values, which no file has.
	Source       string    `json:"source,omitempty"`
	PermuteHeads int       `json:"-"`
	Data         []float32 `json:"-"`
}

// typeName is what the tensor becomes: its GGUF type or artifact kind.
func (t *Tensor) typeName() string {
	if t.Kind != "" {
		return string(t.Kind)
	}
	return t.Type.String()
}

// Plan is the whole job, known from the headers before any data is read:
// the tensors in output order, the GGUF header, and the chunks.
type Plan struct {
	Files    []string
	Tensors  []Tensor
	Header   []byte // the output file's bytes before the data
	DataSize int64  // the data section's size, padding included
	Chunks   []Chunk
}

// passThrough reports whether tensor t's bytes go to the output unchanged.
func (t *Tensor) passThrough() bool {
	return t.DType == t.Type.String()
}

// plan reads the checkpoint's headers and lays out the output: tensors by
// file, then by offset in it; their types; the GGUF header with meta; and
// chunks of at most chunkBytes source bytes, each a run of whole rows where
// a row fits (else of whole blocks).
func plan(ctx context.Context, c Config, meta []gguf.KV) (*Plan, error) {
	files, weightMap, err := Resolve(ctx, c.Checkpoint)
	if err != nil {
		return nil, err
	}
	p := &Plan{Files: files}
	seen := map[string]string{}
	for _, f := range files {
		h, gen, err := readHeader(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, ht := range h.Tensors {
			if prev, dup := seen[ht.Name]; dup {
				return nil, fmt.Errorf("checkpoint %s: tensor %q is in both %s and %s", c.Checkpoint, ht.Name, prev, f)
			}
			seen[ht.Name] = f
			if weightMap != nil && weightMap[ht.Name] != f {
				return nil, fmt.Errorf("checkpoint %s: tensor %q is in %s, but the index puts it in %q", c.Checkpoint, ht.Name, f, weightMap[ht.Name])
			}
			var typ gguf.Type
			var kind artifact.Kind
			var why string
			if c.lightbeam() {
				kind, why, err = chooseKind(ht.Name, ht.DType, ht.Shape)
			} else {
				typ, why, err = gguf.Choose(ht.Name, ht.DType, ht.Shape, c.quant, c.Quant1D)
			}
			if err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", f, err)
			}
			shape := make([]int64, len(ht.Shape))
			for i, s := range ht.Shape {
				shape[i] = int64(s)
			}
			if len(shape) == 0 && !c.lightbeam() {
				shape = []int64{1} // GGUF has no scalars
			}
			p.Tensors = append(p.Tensors, Tensor{Name: ht.Name, File: f, Gen: gen, DType: ht.DType, Shape: shape,
				Begin: ht.Begin, End: ht.End, Type: typ, Kind: kind, Reason: why})
		}
	}
	for name, f := range weightMap {
		if _, ok := seen[name]; !ok {
			return nil, fmt.Errorf("checkpoint %s: the index puts tensor %q in %s, which does not hold it", c.Checkpoint, name, f)
		}
	}
	if len(p.Tensors) == 0 {
		return nil, fmt.Errorf("checkpoint %s: no tensors", c.Checkpoint)
	}
	if c.lightbeam() {
		return p, planArtifact(p, c, meta)
	}
	return p, layoutGGUF(p, c, meta)
}

// layoutGGUF lays out p's tensors (their types chosen) as a GGUF with the
// metadata meta: p.Header, p.DataSize, each tensor's offset, and the
// chunks.
func layoutGGUF(p *Plan, c Config, meta []gguf.KV) error {
	var err error
	file := gguf.File{KV: meta}
	for _, t := range p.Tensors {
		file.Tensors = append(file.Tensors, gguf.TensorInfo{Name: t.Name, Shape: t.Shape, Type: t.Type})
	}
	if p.DataSize, err = file.Layout(); err != nil {
		return fmt.Errorf("checkpoint %s: %w", c.Checkpoint, err)
	}
	if p.Header, err = file.Header(); err != nil {
		return err
	}
	for i := range p.Tensors {
		p.Tensors[i].Offset = file.Tensors[i].Offset
		p.Chunks = append(p.Chunks, chunks(i, &p.Tensors[i], file.Tensors[i], int64(len(p.Header)), c.chunkBytes(), len(p.Chunks))...)
	}
	return nil
}

// chunks cuts tensor t (number i, described as info in the output, whose
// data section starts at byte dataStart) into pieces of at most maxBytes
// source bytes: whole rows where a row fits, else whole blocks of its
// type; for rows to permute, whole heads (llm.Tensor.PermuteGroup rows),
// whatever their size, so that a chunk's output rows come from its own
// source rows. The last piece carries the tensor's padding. first is the
// index of its first chunk.
func chunks(i int, t *Tensor, info gguf.TensorInfo, dataStart, maxBytes int64, first int) []Chunk {
	elem := int64(model.DTypeSize(t.DType))
	n := t.End - t.Begin
	unit := int64(max(1, t.Type.BlockElems()))
	row := t.Shape[len(t.Shape)-1]
	if row*elem <= maxBytes {
		unit = row
	}
	var group int64
	if t.PermuteHeads > 0 {
		group = t.Shape[0] / int64(t.PermuteHeads)
		if len(t.Shape) == 1 { // a bias: its rows are single values
			row = 1
		}
		unit = group * row
	}
	per := max(unit, maxBytes/elem/unit*unit) // values per chunk
	outBytes, _ := info.Bytes()
	var out []Chunk
	for v := int64(0); v*elem < n; v += per {
		m := min(per, n/elem-v)
		o, _ := t.Type.Bytes(m)
		before, _ := t.Type.Bytes(v)
		c := Chunk{At: dataStart + info.Offset + before, Index: first + len(out), Tensor: i, Name: t.Name, File: t.File, Gen: t.Gen, DType: t.DType,
			First: v, Begin: t.Begin + v*elem, End: t.Begin + (v+m)*elem, Type: uint32(t.Type), OutBytes: o}
		if group > 0 {
			c.PermuteHeads, c.Rows, c.RowLen = t.PermuteHeads, t.Shape[0], row
		}
		if t.Data != nil {
			c.Data = t.Data[v : v+m]
		}
		if (v+m)*elem == n {
			c.Pad = gguf.Pad(outBytes)
		}
		out = append(out, c)
	}
	return out
}

// chooseKind is the artifact kind of a checkpoint tensor: int8 rows for
// float tensors of rank 2 or more, f32 for 1-D and scalar float tensors
// (as GGUF's path keeps them), and raw bytes for the other dtypes.
func chooseKind(name, dtype string, shape []int) (artifact.Kind, string, error) {
	switch {
	case model.IsFloatDType(dtype) && len(shape) >= 2:
		return artifact.Int8, "", nil
	case model.IsFloatDType(dtype):
		return artifact.F32, "1-D tensors stay f32", nil
	}
	if _, err := artifact.PayloadBytes(nil, artifact.Raw, dtype); err != nil {
		return "", "", fmt.Errorf("tensor %q has dtype %s, which a lightbeam artifact has no kind for", name, dtype)
	}
	return artifact.Raw, dtype + " is kept as it is", nil
}

// planArtifact lays out a version 2 artifact (compress/artifact): the
// prefix (magic, version, metadata, count) as p.Header, then each
// tensor's record, its header carried by its first chunk, then the 4-byte
// CRC, which Run joins from the chunks' after the pipeline.
func planArtifact(p *Plan, c Config, kvs []gguf.KV) error {
	meta := map[string]string{}
	for _, kv := range kvs {
		if v, ok := kv.Value.(string); ok {
			meta[kv.Key] = v
		}
	}
	p.Header = artifact.Prefix(meta, len(p.Tensors))
	at := int64(len(p.Header))
	for i := range p.Tensors {
		t := &p.Tensors[i]
		shape := make([]int, len(t.Shape))
		for j, d := range t.Shape {
			shape[j] = int(d)
		}
		dtype := ""
		if t.Kind == artifact.Raw {
			dtype = t.DType
		}
		hdr, err := artifact.RecordHeader(t.Name, shape, t.Kind, dtype)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %s: %w", c.Checkpoint, t.File, err)
		}
		payload, _ := artifact.PayloadBytes(shape, t.Kind, dtype)
		t.Offset, t.Bytes = at, int64(len(hdr))+payload
		p.Chunks = append(p.Chunks, artifactChunks(i, t, hdr, payload, c.chunkBytes(), len(p.Chunks))...)
		at += t.Bytes
	}
	p.DataSize = at - int64(len(p.Header)) + 4
	return nil
}

// artifactChunks cuts tensor t (number i, whose record starts at
// t.Offset with the header hdr) into pieces of at most maxBytes source
// bytes: whole rows for int8 (one row at least, whatever its size: its
// scale needs all of it), else any run of values. The first piece carries
// hdr; a tensor with no values is one piece of hdr and payload zero
// bytes (the zero scales of rows of no values). first is the index of its
// first chunk.
func artifactChunks(i int, t *Tensor, hdr []byte, payload, maxBytes int64, first int) []Chunk {
	elem := int64(model.DTypeSize(t.DType))
	n := (t.End - t.Begin) / elem
	unit, rowBytes := int64(1), int64(0) // values per unit; the scale's bytes per unit
	outElem := elem
	switch t.Kind {
	case artifact.Int8:
		unit, rowBytes, outElem = 1, 4, 1
		for _, d := range t.Shape[1:] {
			unit *= d
		}
	case artifact.F32:
		outElem = 4
	}
	outBytes := func(v int64) int64 { // the payload bytes of v values
		if unit == 0 {
			return 0
		}
		return v/unit*rowBytes + v*outElem
	}
	if n == 0 {
		return []Chunk{{Index: first, Tensor: i, Name: t.Name, File: t.File, Gen: t.Gen, DType: t.DType,
			Begin: t.Begin, End: t.Begin, Kind: string(t.Kind), Cols: unit, Prefix: hdr, At: t.Offset, OutBytes: int64(len(hdr)) + payload}}
	}
	per := max(unit, maxBytes/elem/unit*unit) // values per chunk
	var out []Chunk
	for v := int64(0); v < n; v += per {
		m := min(per, n-v)
		c := Chunk{Index: first + len(out), Tensor: i, Name: t.Name, File: t.File, Gen: t.Gen, DType: t.DType,
			First: v, Begin: t.Begin + v*elem, End: t.Begin + (v+m)*elem, Kind: string(t.Kind), Cols: unit,
			At: t.Offset + int64(len(hdr)) + outBytes(v), OutBytes: outBytes(m)}
		if v == 0 {
			c.Prefix, c.At, c.OutBytes = hdr, t.Offset, c.OutBytes+int64(len(hdr))
		}
		out = append(out, c)
	}
	return out
}
