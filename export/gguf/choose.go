package gguf

import "fmt"

// Choose returns the GGUF type of a tensor (a safetensors dtype and a
// row-major shape) under the recipe's type q, and why it is not q when it
// is not. The rules (docs/FORMATS.md):
//
//   - integer tensors and F64 pass through unchanged (I8, I16, I32, I64,
//     F64); unsigned, bool and 8-bit float tensors have no GGUF type;
//   - float tensors of rank 0 or 1 stay F32 unless quant1D;
//   - a float tensor whose rows (the last dimension) are whole blocks of q
//     gets q; else a k-quant falls back as llama-quantize does (Q4_K to
//     Q5_0, Q5_K to Q5_1, Q6_K to Q8_0) when the rows are whole blocks of
//     32, and everything else to 16 bits: BF16 for a BF16 source, F16
//     otherwise.
func Choose(name, dtype string, shape []int, q Type, quant1D bool) (Type, string, error) {
	switch dtype {
	case "I8":
		return I8, "", nil
	case "I16":
		return I16, "", nil
	case "I32":
		return I32, "", nil
	case "I64":
		return I64, "", nil
	case "F64":
		return F64, "", nil
	}
	if dtype != "F32" && dtype != "F16" && dtype != "BF16" {
		return 0, "", fmt.Errorf("tensor %q has dtype %s, which GGUF has no type for", name, dtype)
	}
	if len(shape) <= 1 && !quant1D {
		return F32, "1-D tensors stay F32", nil
	}
	row := int64(1)
	if len(shape) > 0 {
		row = int64(shape[len(shape)-1])
	}
	if row%int64(q.BlockElems()) == 0 {
		return q, "", nil
	}
	why := fmt.Sprintf("rows of %d values are not whole %v blocks of %d", row, q, q.BlockElems())
	if to, ok := kFallback[q]; ok && row%int64(to.BlockElems()) == 0 {
		return to, why, nil
	}
	if dtype == "BF16" {
		return BF16, why, nil
	}
	return F16, why, nil
}
