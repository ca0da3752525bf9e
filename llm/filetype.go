package llm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lightbeam-ml/lightbeam/export/gguf"
)

// QuantizationVersion is general.quantization_version, as llama.cpp's
// converter writes it (GGML_QUANT_VERSION).
const QuantizationVersion = 2

// otherFileTypes are llama.cpp's llama_ftype values for the file types
// lightbeam has no preset for (gguf.Presets holds the others' numbers).
var otherFileTypes = map[string]uint32{
	"Q4_1": 3, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13,
	"Q4_K_S": 14, "Q5_K_S": 16,
}

// FileType returns general.file_type for a file whose weights are mostly
// of the type or llama-quantize preset named (case-insensitive: "q8_0",
// "Q4_K_M", "f16"): a gguf.Preset's FileType, or llama.cpp's number for a
// file type lightbeam does not write. A bare k-quant name is its _M
// preset where llama.cpp has one (Q4_K is Q4_K_M, Q5_K is Q5_K_M), as
// llama-quantize reports it.
func FileType(name string) (uint32, error) {
	n := strings.ToUpper(name)
	switch n {
	case "Q3_K", "Q4_K", "Q5_K":
		n += "_M"
	}
	if p, err := gguf.ParsePreset(n); err == nil {
		return p.FileType, nil
	}
	if ft, ok := otherFileTypes[n]; ok {
		return ft, nil
	}
	var names []string
	for _, p := range gguf.Presets {
		names = append(names, strings.ToUpper(p.Name))
	}
	for k := range otherFileTypes {
		names = append(names, k)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("llm: no llama.cpp file type is named %q (one of %s)", name, strings.Join(names, ", "))
}
