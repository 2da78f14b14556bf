"""Recommendations to each user from the shipped ranker, each item with the interest it serves."""
