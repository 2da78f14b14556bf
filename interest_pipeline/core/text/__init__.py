"""Sentence-transformer embeddings and keyword labels. A model (the packaged one by default, or any
sentence-transformers name or folder) is loaded offline in float32, bf16 or int8 (an ONNX export
quantized by onnxruntime), ``auto`` keeping a faster precision only while it stays within a cosine
guard of float32; texts are encoded in length-sorted batches, one per core, and keyed by hash for the
cache. Near-duplicate texts share one key; c-TF-IDF picks the words that label a cluster."""
