"""Features: per-user behaviour and text vectors with time decay, fused by the weight alpha."""
