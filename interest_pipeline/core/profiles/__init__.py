"""Per-user interest layers: a user's interactions summed per topic and subtopic with a long and a
short half-life, tiered into core / secondary / peripheral by share; users with nothing placed get the
most popular nodes instead, marked as such."""
