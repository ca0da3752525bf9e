package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// sourceTensor is one tensor of the checkpoint, from its file's header.
type sourceTensor struct {
	model.HeaderTensor
	file string
	gen  int64 // the file's generation (storage.Stat) when its header was read
}

// readCheckpoint reads the safetensors headers of the model in dir as the
// converter finds its parts: the files model.safetensors.index.json names
// (whose weight map must match the files' tensors), else the model*.safetensors
// files, sorted; each file's tensors in its data order.
func readCheckpoint(ctx context.Context, dir string) ([]sourceTensor, []string, error) {
	index := storage.Join(dir, "model.safetensors.index.json")
	var files []string
	var weightMap map[string]string
	if ok, err := storage.Exists(ctx, index); err != nil {
		return nil, nil, err
	} else if ok {
		b, err := readSmall(ctx, index)
		if err != nil {
			return nil, nil, err
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, nil, fmt.Errorf("llm: %s: %w", index, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, nil, fmt.Errorf("llm: %s: no weight_map", index)
		}
		weightMap = idx.WeightMap
		seen := map[string]bool{}
		for name, f := range weightMap {
			if f == "" || strings.ContainsAny(f, `/\`) || f == "." || f == ".." {
				return nil, nil, fmt.Errorf("llm: %s: tensor %q names shard %q, which is not a file beside the index", index, name, f)
			}
			if !seen[f] {
				seen[f] = true
				files = append(files, storage.Join(dir, f))
			}
		}
	} else {
		all, err := storage.List(ctx, storage.Join(dir, "*.safetensors"))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range all {
			if strings.HasPrefix(storage.Base(f), "model") {
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			return nil, nil, fmt.Errorf("llm: %s: no model*.safetensors files and no model.safetensors.index.json (lightbeam reads safetensors checkpoints only)", dir)
		}
	}
	sort.Strings(files)
	var out []sourceTensor
	where := map[string]string{}
	for _, f := range files {
		h, gen, err := ReadHeader(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range h.Tensors {
			if prev, ok := where[t.Name]; ok {
				return nil, nil, fmt.Errorf("llm: tensor %q is in both %s and %s", t.Name, prev, f)
			}
			where[t.Name] = f
			out = append(out, sourceTensor{t, f, gen})
		}
	}
	if weightMap != nil {
		var missing, extra []string
		for name, f := range weightMap {
			if where[name] != storage.Join(dir, f) {
				missing = append(missing, name)
			}
		}
		for name := range where {
			if _, ok := weightMap[name]; !ok {
				extra = append(extra, name)
			}
		}
		if len(missing)+len(extra) > 0 {
			sort.Strings(missing)
			sort.Strings(extra)
			return nil, nil, fmt.Errorf("llm: %s does not match its shards: missing or misplaced tensors %v, tensors it does not list %v", index, head(missing), head(extra))
		}
	}
	return out, files, nil
}

func head(s []string) []string {
	if len(s) > 8 {
		return append(s[:8:8], fmt.Sprintf("... (%d in all)", len(s)))
	}
	return s
}

// ReadHeader reads a safetensors file's header by range (local, gs://,
// hdfs://), pinned to one version of the file: its first 8 bytes, then
// the JSON header. It returns the version's generation, for the data reads
// to pin to (storage.OpenRangeAt). pipelines/quantize plans raw
// checkpoints with it too.
func ReadHeader(ctx context.Context, path string) (*model.SafetensorsHeader, int64, error) {
	info, err := storage.Stat(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	first, err := readRange(ctx, path, info.Generation, 0, min(8, info.Size))
	if err != nil {
		return nil, 0, err
	}
	n, err := model.SafetensorsHeaderLen(first, info.Size, path)
	if err != nil {
		return nil, 0, err
	}
	js, err := readRange(ctx, path, info.Generation, 8, n)
	if err != nil {
		return nil, 0, err
	}
	h, err := model.ParseSafetensorsHeader(js, info.Size, path)
	return h, info.Generation, err
}

func readRange(ctx context.Context, path string, gen, off, n int64) ([]byte, error) {
	r, err := storage.OpenRangeAt(ctx, path, gen, off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("llm: %s: reading %d bytes at %d: %w", path, n, off, err)
	}
	return b, nil
}
