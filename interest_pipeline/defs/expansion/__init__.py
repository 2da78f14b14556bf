"""Expansion: the subtopics each user is likely to take up next."""
