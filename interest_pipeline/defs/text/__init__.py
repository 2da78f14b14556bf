"""Text: comments cleaned and tokenized, and sentence-transformer embeddings of comments and items,
cached by model and text hash."""
