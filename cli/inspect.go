package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export"
	"github.com/lightbeam-ml/lightbeam/export/gguf"
	"github.com/lightbeam-ml/lightbeam/model"
	"github.com/lightbeam-ml/lightbeam/pipelines/quantize"
	"github.com/lightbeam-ml/lightbeam/storage"
)

var inspectCmd = &command{
	name:       "inspect",
	summary:    "print the layers, shapes, sparsity, encodings and bytes of an artifact or a model file",
	positional: true,
	flags: func(fs *flag.FlagSet) func(context.Context) error {
		return func(ctx context.Context) error {
			args := positionalArgs(ctx)
			if len(args) != 1 {
				return fmt.Errorf("usage: lightbeam inspect FILE")
			}
			out, err := inspect(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Print(out)
			return nil
		}
	},
}

// inspect describes an artifact (by its magic), a GGUF file, or a
// safetensors file: a lightbeam model with its sparsity, any other
// checkpoint by its header alone, however large. It reads what each
// description needs; the descriptions are the formats' (gguf.Describe,
// export.DescribeHeader, export.Describe).
func inspect(ctx context.Context, path string) (string, error) {
	size, err := storage.Size(ctx, path)
	if err != nil {
		return "", err
	}
	r, err := storage.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer r.Close()
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(4); string(magic) == gguf.Magic {
		return gguf.Describe(br, size, path)
	}
	if strings.HasSuffix(path, ".safetensors") {
		h, err := quantize.ReadHeader(ctx, path)
		if err != nil {
			return "", err
		}
		if h.Metadata[model.MetaFormat] == "" {
			return export.DescribeHeader(h, size, path), nil
		}
	}
	raw, err := io.ReadAll(br)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return export.Describe(raw, path)
}
