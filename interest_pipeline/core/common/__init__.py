"""What every stage shares: language-aware cleaning and tokenization (jieba for Chinese, a stop-word
list per language), unit vectors and their polars columns, timed phases for progress lines, and
numba's on-disk cache for UMAP."""
