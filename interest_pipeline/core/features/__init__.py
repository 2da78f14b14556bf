"""Per-user vectors: a behaviour vector (events weighted by type and decayed by age with a half-life)
and a text vector (decayed mean of the user's comment embeddings), fused as alpha * behaviour +
(1 - alpha) * text after unit scaling. Decayed sums are kept so that a day of new rows updates a
user exactly without re-reading their history."""
