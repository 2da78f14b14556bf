"""Pictures for Dagster metadata and MLflow artifacts, rendered headless to PNG bytes."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from interest_pipeline.core.clustering import NOISE  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def project_2d(reduced: np.ndarray) -> np.ndarray:
    """A cheap 2-D view of the reduced space (PCA), enough to see separation."""
    if reduced.shape[1] <= 2:
        return np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
    centred = reduced - reduced.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def cluster_map_png(points_2d: np.ndarray, labels: np.ndarray, title: str, max_points: int = 20000) -> bytes:
    if len(points_2d) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(points_2d), max_points, replace=False))
        points_2d, labels = points_2d[keep], labels[keep]
    figure, axis = plt.subplots(figsize=(7, 5.5))
    noise = labels == NOISE
    axis.scatter(points_2d[noise, 0], points_2d[noise, 1], s=3, c="lightgrey", label="noise")
    axis.scatter(points_2d[~noise, 0], points_2d[~noise, 1], s=4, c=labels[~noise], cmap="tab20")
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    return _png(figure)


def silhouette_bar_png(per_cluster: dict[str, float], title: str) -> bytes:
    names = list(per_cluster)
    values = [per_cluster[n] for n in names]
    figure, axis = plt.subplots(figsize=(7, max(2.5, 0.22 * len(names) + 1)))
    axis.barh(names, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    axis.axvline(0, color="black", linewidth=0.8)
    axis.invert_yaxis()
    axis.set_xlabel("mean silhouette")
    axis.set_title(title)
    axis.tick_params(axis="y", labelsize=7)
    return _png(figure)


def topic_tree_png(tree: dict, max_subtopics_per_topic: int = 8) -> bytes:
    """The taxonomy as grouped bars: one colour per topic, one bar per subtopic (its size)."""
    names, sizes, colours, separators = [], [], [], []
    palette = plt.get_cmap("tab10")
    for index, topic in enumerate(tree.get("children", [])):
        names.append(f"{topic['id']}  {topic['label']}")
        sizes.append(topic["size"])
        colours.append(palette(index % 10))
        for sub in topic["children"][:max_subtopics_per_topic]:
            names.append(f"    {sub['id']}  {sub['label']}")
            sizes.append(sub["size"])
            colours.append((*palette(index % 10)[:3], 0.45))
        separators.append(len(names) - 0.5)
    figure, axis = plt.subplots(figsize=(8, max(3.0, 0.2 * len(names) + 1)))
    axis.barh(range(len(names)), sizes, color=colours)
    axis.set_yticks(range(len(names)), names, fontsize=7)
    for y in separators[:-1]:
        axis.axhline(y, color="grey", linewidth=0.5)
    axis.invert_yaxis()
    axis.set_xlabel("items and comments")
    axis.set_title("topics (dark) and their subtopics (light)")
    return _png(figure)


def markdown_image(png: bytes, alt: str) -> str:
    """Inline PNG for ``MetadataValue.md``; the Dagster UI renders data URIs."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
