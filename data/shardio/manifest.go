package shardio

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/lightbeam-ml/lightbeam/data/rows"
	"github.com/lightbeam-ml/lightbeam/storage"
)

// Manifest identity. A reader accepts exactly ManifestVersion: fields may be
// added within a version (readers ignore keys they do not know), anything
// else bumps it.
const (
	ManifestFormat  = "lightbeam.manifest"
	ManifestVersion = 1
	ManifestName    = "manifest.json"
)

// Manifest describes a preprocess output directory. docs/FORMATS.md
// explains every key.
type Manifest struct {
	Format       string            `json:"format"`     // ManifestFormat
	Version      int               `json:"version"`    // ManifestVersion
	CreatedBy    string            `json:"created_by"` // "lightbeam <version>"
	Source       Source            `json:"source"`
	Schema       Schema            `json:"schema"`
	Scale        Scale             `json:"scale"`
	Stats        SplitStats        `json:"stats"`  // per split, of the raw rows before scaling
	Splits       map[string]*Split `json:"splits"` // "train", "validation", "test"
	RowsRead     int64             `json:"rows_read"`
	RowsRejected int64             `json:"rows_rejected"`
	Rejects      []string          `json:"rejects"` // reject files, relative to the manifest's directory
}

// Source says what was read.
type Source struct {
	Format  string   `json:"format"` // "idx", "csv" or "libsvm"
	Inputs  []string `json:"inputs"` // input files as given (local paths or URLs)
	BytesIn int64    `json:"bytes_in"`
}

// Schema describes the rows.
type Schema struct {
	Features     int      `json:"features"`
	FeatureNames []string `json:"feature_names,omitempty"` // empty or one per feature
	Sparse       bool     `json:"sparse"`
	Task         string   `json:"task"`                  // "classification" or "regression"
	Classes      int      `json:"classes"`               // classification: labels are 0..Classes-1
	ClassNames   []string `json:"class_names,omitempty"` // empty or one per class
	Label        string   `json:"label"`                 // name of the label column, if any
	// Image is the rows' shape where each row is one image, row-major:
	// height, width, channels (IDX; Parquet and TFRecord of one image
	// feature). Empty otherwise.
	Image []int `json:"image,omitempty"`
}

// Scale records the scaling applied to the stored features, fitted on
// FitOn:
//
//	x' = (x − Offset[j]) · Factor[j]
//
// Method "standard" has Offset = mean, Factor = 1/std (1 where std is 0);
// "minmax" has Offset = min, Factor = 1/(max − min); "none" leaves both
// empty.
type Scale struct {
	Method  string `json:"method"` // "standard", "minmax" or "none"
	Offset  Floats `json:"offset"`
	Factor  Floats `json:"factor"`
	FitOn   string `json:"fit_on"`  // "train"
	Missing string `json:"missing"` // the missing-value policy: "reject" (the record), "zero" or "mean" (the training mean)
}

// Split lists the shards of one split in reading order.
type Split struct {
	Rows   int64       `json:"rows"`
	Shards []ShardInfo `json:"shards"`
}

// ShardInfo identifies one shard file.
type ShardInfo struct {
	Path   string `json:"path"` // relative to the manifest's directory, '/'-separated
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex
}

// ShardPath returns the conventional path of shard i of n of a split,
// relative to the manifest's directory: "shards/train-00003-of-00008.lbs".
func ShardPath(split string, i, n int) string {
	return fmt.Sprintf("shards/%s-%05d-of-%05d.lbs", split, i, n)
}

// Floats is a []float64 whose JSON form keeps non-finite values, which
// encoding/json rejects: they are the strings "+Inf", "-Inf" and "NaN"
// (the min and max of a feature with no values are ±Inf).
type Floats []float64

// MarshalJSON implements json.Marshaler.
func (fs Floats) MarshalJSON() ([]byte, error) {
	if fs == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case math.IsInf(f, 1):
			b = append(b, `"+Inf"`...)
		case math.IsInf(f, -1):
			b = append(b, `"-Inf"`...)
		case math.IsNaN(f):
			b = append(b, `"NaN"`...)
		default:
			b = strconv.AppendFloat(b, f, 'g', -1, 64)
		}
	}
	return append(b, ']'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (fs *Floats) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*fs = nil
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(Floats, len(raw))
	for i, r := range raw {
		if len(r) > 0 && r[0] == '"' {
			var s string
			json.Unmarshal(r, &s)
			switch s {
			case "+Inf", "Inf":
				out[i] = math.Inf(1)
			case "-Inf":
				out[i] = math.Inf(-1)
			case "NaN":
				out[i] = math.NaN()
			default:
				return fmt.Errorf("element %d: %q is not a number, \"+Inf\", \"-Inf\" or \"NaN\"", i, s)
			}
			continue
		}
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	*fs = out
	return nil
}

// statsJSON is the JSON form of rows.Stats, with stable snake_case keys.
type statsJSON struct {
	Rows   int64   `json:"rows"`
	Count  []int64 `json:"count"`
	Mean   Floats  `json:"mean"`
	M2     Floats  `json:"m2"`
	Min    Floats  `json:"min"`
	Max    Floats  `json:"max"`
	Labels []int64 `json:"labels,omitempty"`
}

// SplitStats maps a split's name to the statistics of its rows. Its JSON
// form has stable snake_case keys and keeps ±Inf (see Floats).
type SplitStats map[string]*rows.Stats

// MarshalJSON implements json.Marshaler.
func (ss SplitStats) MarshalJSON() ([]byte, error) {
	if ss == nil {
		return []byte("null"), nil
	}
	j := make(map[string]*statsJSON, len(ss))
	for k, s := range ss {
		if s != nil {
			j[k] = &statsJSON{s.Rows, s.Count, s.Mean, s.M2, s.Min, s.Max, s.Labels}
		} else {
			j[k] = nil
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler.
func (ss *SplitStats) UnmarshalJSON(b []byte) error {
	var j map[string]*statsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j == nil {
		*ss = nil
		return nil
	}
	*ss = make(SplitStats, len(j))
	for k, s := range j {
		if s != nil {
			(*ss)[k] = &rows.Stats{Rows: s.Rows, Count: s.Count, Mean: s.Mean, M2: s.M2, Min: s.Min, Max: s.Max, Labels: s.Labels}
		} else {
			(*ss)[k] = nil
		}
	}
	return nil
}

// Validate checks m's identity and internal consistency: shard rows add up
// to split rows, per-feature arrays have one entry per feature, shard paths
// stay inside the manifest's directory.
func (m *Manifest) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if m.Format != ManifestFormat {
		return fmt.Errorf("format %q, want %q: not a lightbeam manifest", m.Format, ManifestFormat)
	}
	if m.Version != ManifestVersion {
		return fmt.Errorf("manifest version %d, this lightbeam reads only version %d", m.Version, ManifestVersion)
	}
	d := m.Schema.Features
	if d <= 0 {
		bad("schema.features is %d", d)
	}
	if n := len(m.Schema.FeatureNames); n != 0 && n != d {
		bad("schema.feature_names has %d names for %d features", n, d)
	}
	if im := m.Schema.Image; len(im) != 0 {
		if len(im) != 3 || im[0] < 1 || im[1] < 1 || im[2] < 1 || im[0]*im[1]*im[2] != d || m.Schema.Sparse {
			bad("schema.image %v is not [height, width, channels] of %d dense features", im, d)
		}
	}
	switch m.Schema.Task {
	case "classification":
		if m.Schema.Classes < 1 {
			bad("schema.classes is %d for a classification task", m.Schema.Classes)
		}
		if n := len(m.Schema.ClassNames); n != 0 && n != m.Schema.Classes {
			bad("schema.class_names has %d names for %d classes", n, m.Schema.Classes)
		}
	case "regression":
	default:
		bad("schema.task %q is not classification or regression", m.Schema.Task)
	}
	switch m.Scale.Method {
	case "none":
	case "standard", "minmax":
		if len(m.Scale.Offset) != d || len(m.Scale.Factor) != d {
			bad("scale has %d offsets and %d factors for %d features", len(m.Scale.Offset), len(m.Scale.Factor), d)
		}
	default:
		bad("scale.method %q is not standard, minmax or none", m.Scale.Method)
	}
	for _, name := range sortedKeys(m.Stats) {
		s := m.Stats[name]
		if s == nil || len(s.Count) != d || len(s.Mean) != d || len(s.M2) != d || len(s.Min) != d || len(s.Max) != d {
			bad("stats.%s does not cover %d features", name, d)
		}
	}
	if len(m.Splits) == 0 {
		bad("no splits")
	}
	for _, name := range sortedKeys(m.Splits) {
		sp := m.Splits[name]
		if sp == nil {
			bad("splits.%s is null", name)
			continue
		}
		var sum int64
		for i, sh := range sp.Shards {
			if err := checkShardInfo(sh); err != nil {
				bad("splits.%s.shards[%d]: %v", name, i, err)
			}
			sum += sh.Rows
		}
		if sum != sp.Rows {
			bad("splits.%s: shards hold %d rows, the split says %d", name, sum, sp.Rows)
		}
	}
	for i, p := range m.Rejects {
		if !localRelative(p) {
			bad("rejects[%d]: %q is not a relative path inside the output", i, p)
		}
	}
	if m.RowsRead < 0 || m.RowsRejected < 0 {
		bad("negative row counts")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func checkShardInfo(sh ShardInfo) error {
	if !localRelative(sh.Path) {
		return fmt.Errorf("path %q is not a relative path inside the output", sh.Path)
	}
	if sh.Rows < 0 || sh.Bytes < headerSize+trailerSize {
		return fmt.Errorf("%s: %d rows in %d bytes is impossible", sh.Path, sh.Rows, sh.Bytes)
	}
	if b, err := hex.DecodeString(sh.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("%s: sha256 %q is not 64 hex digits", sh.Path, sh.SHA256)
	}
	return nil
}

// localRelative reports whether p is a clean, relative, '/'-separated path
// that stays below its base.
func localRelative(p string) bool {
	return p != "" && !path.IsAbs(p) && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../") &&
		!strings.Contains(p, "\\") && !strings.Contains(p, "://")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteManifest validates m and writes it as dir/manifest.json, atomically:
// write it after every shard it lists.
func WriteManifest(ctx context.Context, dir string, m *Manifest) error {
	p := storage.Join(dir, ManifestName)
	if err := m.Validate(); err != nil {
		return fmt.Errorf("shardio: %s: refusing to write an invalid manifest: %w", p, err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("shardio: %s: %w", p, err)
	}
	return storage.WriteFile(ctx, p, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// ReadManifest reads and validates dir/manifest.json.
func ReadManifest(ctx context.Context, dir string) (*Manifest, error) {
	p := storage.Join(dir, ManifestName)
	b, err := storage.ReadFile(ctx, p)
	if storage.IsNotExist(err) {
		return nil, fmt.Errorf("%s: missing: the preprocess output is incomplete (no manifest written)", p)
	}
	if err != nil {
		return nil, err
	}
	return DecodeManifest(b, p)
}

// DecodeManifest parses and validates the bytes of a manifest; source
// names it in errors.
func DecodeManifest(b []byte, source string) (*Manifest, error) {
	m := new(Manifest)
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%s: not a valid manifest: %w", source, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return m, nil
}
