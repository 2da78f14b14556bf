"""Usefulness on held-out later events: per-user time splits, candidate items ranked by each method
(the interest layers, the blended ranker, popularity, a mean embedding, K-Means segments, random),
scored by precision / recall@K, MAP, nDCG and AUC with paired bootstrap intervals against the
baselines; the expansion is scored on the subtopics users took up later."""
