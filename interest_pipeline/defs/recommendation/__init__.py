"""Recommendation: the items the shipped ranker recommends to each user, with the interest each serves."""
