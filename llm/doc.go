// Package llm reads a Hugging Face model directory (config.json, the
// safetensors headers, the tokenizer files) of an architecture llama.cpp
// runs and gives what llama.cpp's convert_hf_to_gguf.py would write for it:
// the GGUF metadata and the plan of tensors under llama.cpp's names.
//
//	DIR/config.json ─▶ architecture, hyper-parameters ─┐
//	DIR/modules.json, 1_Pooling/config.json ─▶ pooling ─┼─▶ Model.KV(file type): general.*, {arch}.*,
//	DIR/tokenizer.* ─▶ llm/tokenizer ───────────────────┘   tokenizer.*
//	DIR/model*.safetensors headers (or the index) ─▶ Model.Tensors: HF name → llama.cpp name, shape
//	        checked against the config, Q/K rows to permute (Llama, Mistral), dropped tensors
//	        (rotary inv_freq, BERT's pooler and position_ids, a tied lm_head), generated ones
//	        (rope_freqs of Llama 3's rope scaling), which ones the converter keeps in F32
//
// Supported: BertModel and BertForMaskedLM (sentence-transformers
// directories included), LlamaForCausalLM (Llama 2 and 3, SmolLM, TinyLlama),
// MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM. Anything else is an
// error that lists them.
//
// The package reads only headers and small files, through package storage
// (local, gs://, hdfs://), so a job can plan a remote checkpoint; it moves
// no tensor data and imports no Beam. pipelines/quantize writes the GGUF:
// it takes Model.KV and, per Tensor, reads the source rows (SourceRow, for
// the permuted ones), quantizes and writes them under Tensor.Name.
package llm
