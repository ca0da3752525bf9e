package nightly

// Discovery: which folders under MODELS are models to compress, and the
// content hash that says whether a model and recipe were compressed before.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// source is a model to compress: a finished train output (MODELS/NAME/
// with model.safetensors and report.json, written last) or a safetensors
// checkpoint (MODELS/NAME/ with model.safetensors.index.json and its
// shards, or with a model.safetensors that is not a lightbeam model). A
// lightbeam model without its report is a train run not finished yet, and
// is left for a later night.
type source struct {
	name       string
	path       string   // what compress gets: the train output or the checkpoint directory
	checkpoint bool     // compressed by pipelines/quantize
	model      bool     // a checkpoint that is a model directory (config.json): a llama.cpp GGUF, evaluable
	files      []string // the files its content hash covers
	err        error    // why it cannot be read
}

// findModels returns the models under prefix, by name.
func findModels(ctx context.Context, prefix string) ([]source, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	var out []source
	seen := map[string]bool{}
	// A name directly under prefix: gs:// globs also match deeper paths.
	direct := func(file string) (string, bool) {
		dir := storage.Dir(file)
		return storage.Base(dir), storage.Dir(dir) == prefix
	}
	// A model directory: config.json, the tokenizer's files and the
	// safetensors; the hash covers every file in it and below it (a
	// sentence-transformers model keeps its pooling in 1_Pooling/).
	configs, err := storage.List(ctx, storage.Join(prefix, "*", "config.json"))
	if err != nil {
		return nil, err
	}
	for _, c := range configs {
		name, ok := direct(c)
		if !ok {
			continue
		}
		dir := storage.Dir(c)
		files, err := storage.List(ctx, storage.Join(dir, "**"))
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: name, path: dir, checkpoint: true, model: true, files: files})
		seen[name] = true
	}
	indexes, err := storage.List(ctx, storage.Join(prefix, "*", quantize.IndexFile))
	if err != nil {
		return nil, err
	}
	for _, idx := range indexes {
		name, ok := direct(idx)
		if !ok || seen[name] {
			continue
		}
		files, _, err := quantize.Resolve(ctx, idx)
		if err != nil {
			return nil, err
		}
		out = append(out, source{name: name, path: storage.Dir(idx), checkpoint: true, files: append([]string{idx}, files...)})
		seen[name] = true
	}
	models, err := storage.List(ctx, storage.Join(prefix, "*", modelFile))
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		name, ok := direct(m)
		if !ok || seen[name] {
			continue
		}
		dir := storage.Dir(m)
		if ok, err := storage.Exists(ctx, storage.Join(dir, trainReport)); err != nil {
			return nil, err
		} else if ok {
			out = append(out, source{name: name, path: dir, files: []string{m}})
			continue
		}
		// No train report: a checkpoint, or a train output not finished yet.
		h, err := quantize.ReadHeader(ctx, m)
		switch {
		case err != nil:
			out = append(out, source{name: name, path: m, err: err})
		case h.Metadata[lightbeamFormat] == "":
			out = append(out, source{name: name, path: m, checkpoint: true, files: []string{m}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// lightbeamFormat is the metadata key of lightbeam's model files.
const lightbeamFormat = "lightbeam.format"

// contentHash is the SHA-256 of the recipe and the files, in hex.
func contentHash(ctx context.Context, recipe []byte, files []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %d\n", len(recipe))
	h.Write(recipe)
	for _, f := range files {
		fmt.Fprintf(h, "file %s\n", storage.Base(f))
		r, err := storage.Open(ctx, f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
