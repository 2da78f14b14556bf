"""The interest hierarchy: root -> topics -> subtopics, each node with size, centroid and label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from interest_pipeline.core.clustering.density_clustering import NOISE
from interest_pipeline.core.common.vectors import l2_normalise, vectors_to_series
from interest_pipeline.core.text.keywords import class_tfidf_keywords, format_label

ROOT_ID = "root"


def topic_id(coarse: int) -> str:
    return f"t{coarse:02d}"


def subtopic_id(coarse: int, fine: int) -> str:
    return f"t{coarse:02d}.s{fine:03d}"


def node_ids(fine: np.ndarray, coarse: np.ndarray) -> tuple[list[str | None], list[str | None]]:
    """Readable, parent-prefixed ids for each point's subtopic and topic (None for noise)."""
    subtopics = [None if f == NOISE else subtopic_id(int(c), int(f)) for f, c in zip(fine, coarse)]
    topics = [None if c == NOISE else topic_id(int(c)) for c in coarse]
    return subtopics, topics


# A keyword found in more than this share of a level's nodes names none of them.
MAX_KEYWORD_NODE_SHARE = 0.5


def _label(keywords: list[tuple[str, float]], title_terms: set[str], n: int = 3) -> str:
    """The top keywords, those found in the node's item titles first: titles name what a node is about."""
    preferred = [k for k in keywords if k[0] in title_terms] + [k for k in keywords if k[0] not in title_terms]
    return format_label(preferred, n=n)


def build_hierarchy(
    subtopics: Sequence[str | None],
    topics: Sequence[str | None],
    vectors: np.ndarray,
    tokens: Sequence[Sequence[str]],
    top_n_keywords: int = 8,
    keyword_rows: np.ndarray | None = None,
    title_tokens: Sequence[Sequence[str] | None] | None = None,
) -> pl.DataFrame:
    """One row per node: root, topics and subtopics, each with exactly one parent but the root.

    Labels are c-TF-IDF keywords computed at each level separately, so a topic's label
    names what its subtopics share and a subtopic's label what sets it apart. Numbers, filler
    words and words found in most nodes of a level are never keywords. ``keyword_rows``
    (e.g. one point per distinct text) limits the keyword statistics to those points, so that
    a comment pasted a thousand times counts once; ``title_tokens`` (items' title tokens,
    None for comments) puts title words first in the label.
    """
    rows: list[dict] = []
    sub_arr = np.array([s if s is not None else "" for s in subtopics], dtype=object)
    top_arr = np.array([t if t is not None else "" for t in topics], dtype=object)
    chosen = np.arange(len(sub_arr)) if keyword_rows is None else np.asarray(keyword_rows)
    chosen_tokens = [tokens[i] for i in chosen]
    keyword_options = dict(
        top_n=top_n_keywords, exclude_labels=("",), max_class_share=MAX_KEYWORD_NODE_SHARE, drop_filler=True
    )
    sub_keywords = class_tfidf_keywords(chosen_tokens, list(sub_arr[chosen]), **keyword_options)
    top_keywords = class_tfidf_keywords(chosen_tokens, list(top_arr[chosen]), **keyword_options)
    titles: dict[str, set[str]] = {}
    if title_tokens is not None:
        for sub, top, words in zip(sub_arr, top_arr, title_tokens):
            if words:
                titles.setdefault(sub, set()).update(words)
                titles.setdefault(top, set()).update(words)

    def node(node_id: str, level: str, parent: str | None, mask: np.ndarray, keywords) -> dict:
        centroid = (
            l2_normalise(vectors[mask].mean(axis=0, keepdims=True))[0]
            if mask.any()
            else np.zeros(vectors.shape[1], np.float32)
        )
        return {
            "node_id": node_id,
            "level": level,
            "parent_id": parent,
            "size": int(mask.sum()),
            "label": _label(keywords, titles.get(node_id, set())),
            "keywords": [k for k, _ in keywords],
            "centroid": centroid,
        }

    clustered = sub_arr != ""
    rows.append(node(ROOT_ID, "root", None, clustered, []))
    for t in sorted(set(top_arr.tolist()) - {""}):
        rows.append(node(t, "topic", ROOT_ID, top_arr == t, top_keywords.get(t, [])))
    for s in sorted(set(sub_arr.tolist()) - {""}):
        parent = s.split(".")[0]
        rows.append(node(s, "subtopic", parent, sub_arr == s, sub_keywords.get(s, [])))
    frame = pl.DataFrame(
        {
            "node_id": [r["node_id"] for r in rows],
            "level": [r["level"] for r in rows],
            "parent_id": [r["parent_id"] for r in rows],
            "size": [r["size"] for r in rows],
            "label": [r["label"] for r in rows],
            "keywords": [r["keywords"] for r in rows],
        },
        schema={
            "node_id": pl.String,
            "level": pl.String,
            "parent_id": pl.String,
            "size": pl.Int64,
            "label": pl.String,
            "keywords": pl.List(pl.String),
        },
    )
    return frame.with_columns(vectors_to_series("centroid", np.vstack([r["centroid"] for r in rows])))


def hierarchy_as_tree(nodes: pl.DataFrame) -> dict:
    """Nested dict (root -> topics -> subtopics) for JSON artifacts and display."""
    by_parent: dict[str | None, list[dict]] = {}
    for row in nodes.drop("centroid").iter_rows(named=True):
        by_parent.setdefault(row["parent_id"], []).append(row)

    def expand(row: dict) -> dict:
        children = sorted(by_parent.get(row["node_id"], []), key=lambda r: (-r["size"], r["node_id"]))
        return {
            "id": row["node_id"],
            "level": row["level"],
            "size": row["size"],
            "label": row["label"],
            "keywords": row["keywords"],
            "children": [expand(c) for c in children],
        }

    roots = by_parent.get(None, [])
    return expand(roots[0]) if roots else {}


def tree_as_markdown(tree: dict, max_subtopics: int = 8) -> str:
    lines = []
    for topic in tree.get("children", []):
        lines.append(f"- **{topic['id']}** ({topic['size']}): {topic['label']}")
        for sub in topic["children"][:max_subtopics]:
            lines.append(f"  - {sub['id']} ({sub['size']}): {sub['label']}")
        if len(topic["children"]) > max_subtopics:
            lines.append(f"  - … {len(topic['children']) - max_subtopics} more")
    return "\n".join(lines)
