package llm

import (
	"fmt"
	"sort"
	"strings"
)

// QuantizationVersion is general.quantization_version, as llama.cpp's
// converter writes it (GGML_QUANT_VERSION).
const QuantizationVersion = 2

// fileTypes are llama.cpp's llama_ftype values by name, the
// general.file_type of a file mostly of that type.
var fileTypes = map[string]uint32{
	"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
	"Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16,
	"Q5_K_M": 17, "Q6_K": 18, "BF16": 32,
}

// FileType returns general.file_type for a file whose weights are mostly
// of the type or llama-quantize preset named (case-insensitive: "q8_0",
// "Q4_K_M", "f16"). A bare k-quant name is its _M preset where llama.cpp
// has one (Q4_K is Q4_K_M, Q5_K is Q5_K_M), as llama-quantize reports it.
func FileType(name string) (uint32, error) {
	n := strings.ToUpper(name)
	switch n {
	case "Q3_K", "Q4_K", "Q5_K":
		n += "_M"
	}
	if ft, ok := fileTypes[n]; ok {
		return ft, nil
	}
	names := make([]string, 0, len(fileTypes))
	for k := range fileTypes {
		names = append(names, k)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("llm: no llama.cpp file type is named %q (one of %s)", name, strings.Join(names, ", "))
}
