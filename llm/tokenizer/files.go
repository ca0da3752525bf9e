package tokenizer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// maxFileBytes bounds every tokenizer file read whole (a large
// tokenizer.json, of a 256k vocabulary, is ~20 MB).
const maxFileBytes = 256 << 20

// readFile returns the file named name in dir, or nil when it does not
// exist.
func readFile(ctx context.Context, dir, name string) ([]byte, error) {
	p := storage.Join(dir, name)
	size, err := storage.Size(ctx, p)
	if err != nil {
		if storage.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	if size > maxFileBytes {
		return nil, fmt.Errorf("tokenizer: %s: %d bytes, more than the %d a tokenizer file may have", p, size, maxFileBytes)
	}
	return storage.ReadFile(ctx, p)
}

// readJSON decodes the JSON file name in dir into v; it reports whether
// the file exists.
func readJSON(ctx context.Context, dir, name string, v any) (bool, error) {
	b, err := readFile(ctx, dir, name)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("tokenizer: %s: %w", storage.Join(dir, name), err)
	}
	return true, nil
}
