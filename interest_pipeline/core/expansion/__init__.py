"""Interests a user has not shown yet but is likely to take up: subtopics scored by what the user's
peer group engages with, siblings of the user's own subtopics in the hierarchy, similarity to the
user's fused vector and an optional take-up model (logistic regression on the same signals), each
suggestion with the signal that carried it."""
