"""Profiles: per-user interest layers, core / secondary / peripheral, long- and short-term."""
