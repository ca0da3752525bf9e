package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/lightbeam-ml/lightbeam/storage"
)

// config is config.json as the converter reads it. The converter loads it
// through transformers' AutoConfig, which fills absent keys with each
// architecture's defaults; lightbeam fills the same defaults (see
// archSpec) and requires the keys that decide the tensors' shapes.
type config struct {
	path string
	raw  map[string]json.RawMessage
}

func readConfig(ctx context.Context, dir string) (*config, error) {
	p := storage.Join(dir, "config.json")
	b, err := readSmall(ctx, p)
	if err != nil {
		if storage.IsNotExist(err) {
			return nil, fmt.Errorf("llm: %s: missing: a Hugging Face model directory has a config.json", p)
		}
		return nil, err
	}
	c := &config{path: p}
	if err := json.Unmarshal(b, &c.raw); err != nil {
		return nil, fmt.Errorf("llm: %s: %w", p, err)
	}
	return c, nil
}

func (c *config) has(key string) bool {
	v, ok := c.raw[key]
	return ok && string(v) != "null"
}

// integer returns a non-negative integer key, def when absent.
func (c *config) integer(key string, def int) (int, error) {
	if !c.has(key) {
		return def, nil
	}
	var f float64
	if err := json.Unmarshal(c.raw[key], &f); err != nil || f != math.Trunc(f) || f < 0 || f > 1<<40 {
		return 0, fmt.Errorf("llm: %s: %s is %s, not a non-negative integer", c.path, key, c.raw[key])
	}
	return int(f), nil
}

// required returns a positive integer key that must be there.
func (c *config) required(key string) (int, error) {
	if !c.has(key) {
		return 0, fmt.Errorf("llm: %s: %s is missing", c.path, key)
	}
	n, err := c.integer(key, 0)
	if err == nil && n == 0 {
		err = fmt.Errorf("llm: %s: %s is 0", c.path, key)
	}
	return n, err
}

func (c *config) float(key string, def float64) (float64, error) {
	if !c.has(key) {
		return def, nil
	}
	var f float64
	if err := json.Unmarshal(c.raw[key], &f); err != nil {
		return 0, fmt.Errorf("llm: %s: %s is %s, not a number", c.path, key, c.raw[key])
	}
	return f, nil
}

func (c *config) boolean(key string, def bool) (bool, error) {
	if !c.has(key) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(c.raw[key], &b); err != nil {
		return false, fmt.Errorf("llm: %s: %s is %s, not true or false", c.path, key, c.raw[key])
	}
	return b, nil
}

func (c *config) object(key string) (map[string]any, error) {
	if !c.has(key) {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(c.raw[key], &m); err != nil {
		return nil, fmt.Errorf("llm: %s: %s is %s, not an object", c.path, key, c.raw[key])
	}
	return m, nil
}

// architecture is architectures[0], what the converter dispatches on.
func (c *config) architecture() (string, error) {
	var a []string
	if c.has("architectures") {
		if err := json.Unmarshal(c.raw["architectures"], &a); err != nil {
			return "", fmt.Errorf("llm: %s: architectures: %w", c.path, err)
		}
	}
	if len(a) == 0 {
		return "", fmt.Errorf("llm: %s: no architectures; lightbeam converts %s", c.path, supportedList())
	}
	return a[0], nil
}

// maxSmallFile bounds config and pooling files and safetensors indexes,
// read whole.
const maxSmallFile = 64 << 20

func readSmall(ctx context.Context, p string) ([]byte, error) {
	size, err := storage.Size(ctx, p)
	if err != nil {
		return nil, err
	}
	if size > maxSmallFile {
		return nil, fmt.Errorf("llm: %s: %d bytes, more than the %d lightbeam reads whole", p, size, maxSmallFile)
	}
	return storage.ReadFile(ctx, p)
}
