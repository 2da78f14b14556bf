"""What the pictures draw: every subtopic of the tree, clusters coloured by topic with named
centroids and a legend, silhouette bars sorted and labelled."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from interest_pipeline.core.clustering.density_clustering import NOISE
from interest_pipeline.core.clustering.plots import (
    PNG_DPI,
    cluster_map_figure,
    silhouette_bar_figure,
    topic_tree_figure,
    topic_tree_rows,
)


def _tree(subtopics_per_topic: list[int]) -> dict:
    return {
        "id": "root",
        "children": [
            {
                "id": f"t{t:02d}",
                "label": f"topic {t}",
                "size": 100 * n,
                "children": [
                    {"id": f"t{t:02d}.s{t * 100 + s:03d}", "label": f"sub {s}", "size": 100 - s, "children": []}
                    for s in range(n)
                ],
            }
            for t, n in enumerate(subtopics_per_topic)
        ],
    }


def test_topic_tree_draws_every_subtopic():
    tree = _tree([12, 3, 1])  # more than the eight the picture used to keep per topic
    figure = topic_tree_figure(tree)
    drawn = [label.get_text().strip() for label in figure.axes[0].get_yticklabels()]
    plt.close(figure)
    expected = [f"{sub['id']}  {sub['label']}" for topic in tree["children"] for sub in topic["children"]]
    assert len(drawn) == 3 + 16
    assert set(expected) <= set(drawn)
    assert [r[0].strip() for r in topic_tree_rows(tree)] == drawn


def _blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [5, 0], [0, 5], [5, 5], [10, 10]], dtype=float)
    labels = np.repeat(np.arange(5), 40)
    points = centres[labels] + rng.normal(scale=0.3, size=(200, 2))
    labels[:7] = NOISE
    return points, labels


def test_cluster_map_colours_by_topic_names_centroids_and_has_a_legend():
    points, labels = _blobs()
    fine_to_coarse = {0: 0, 1: 0, 2: 1, 3: 1, 4: 2}
    names = {f: f"label of {f}" for f in range(5)}
    coarse = {0: "t00  cameras", 1: "t01  books", 2: "t02  tea"}
    figure = cluster_map_figure(
        points, labels, "map", fine_to_coarse=fine_to_coarse, fine_names=names, coarse_names=coarse
    )
    axis = figure.axes[0]
    annotations = sorted(t.get_text() for t in axis.texts)
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    colours = {tuple(np.round(c.get_facecolor()[0], 3)) for c in axis.collections[1:]}
    plt.close(figure)
    assert annotations == sorted(names.values())
    assert legend == ["noise (7 of 200, 3.5%)", "t00  cameras", "t01  books", "t02  tea"]
    assert len(axis.collections) == 1 + 3 and len(colours) == 3  # one scatter per topic, each its own colour
    # each annotation sits at its cluster's centroid
    for text in figure.axes[0].texts:
        fine = next(f for f, n in names.items() if n == text.get_text())
        np.testing.assert_allclose(text.xy, points[labels == fine].mean(axis=0))


def test_silhouette_bars_are_sorted_by_value_and_labelled():
    per_cluster = {"t00.s000  lens": 0.2, "t00.s001  zoom": 0.6, "t01.s002  tea": -0.1, "t01.s003  cup": 0.4}
    figure = silhouette_bar_figure(per_cluster, "s")
    axis = figure.axes[0]
    names = [label.get_text() for label in axis.get_yticklabels()]
    values = [t.get_text() for t in axis.texts]
    plt.close(figure)
    assert names == ["t00.s001  zoom", "t01.s003  cup", "t00.s000  lens", "t01.s002  tea"]
    assert values == ["0.60", "0.40", "0.20", "-0.10"]


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_trees_and_maps_still_render(n):
    from interest_pipeline.core.clustering.plots import cluster_map_png, topic_tree_png

    assert topic_tree_png(_tree([n] * n)).startswith(b"\x89PNG")
    assert cluster_map_png(np.zeros((n, 2)), np.zeros(n, dtype=np.int64), "m").startswith(b"\x89PNG")


def test_chinese_labels_are_drawn_with_no_missing_glyph():
    import warnings

    from interest_pipeline.core.clustering.plots import silhouette_bar_png, topic_tree_png, use_cjk_fallback_font

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bars = silhouette_bar_png({"t00.s000 手机 / 屏幕": 0.3, "t01.s001 洗发水 / 香味": 0.2}, "轮廓系数")
        sub = {"id": "t00.s000", "label": "屏幕 / 电池", "size": 3, "children": []}
        tree = topic_tree_png({"children": [{"id": "t00", "label": "手机 / 数码", "size": 3, "children": [sub]}]})
    assert use_cjk_fallback_font() == "Noto Sans CJK SC"
    assert bars.startswith(b"\x89PNG") and tree.startswith(b"\x89PNG")
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_up_to_54_topics_get_distinct_colours_none_of_them_the_noise_grey():
    from matplotlib.colors import to_rgb

    from interest_pipeline.core.clustering.plots import group_palette

    palette = [tuple(np.round(to_rgb(c), 3)) for c in group_palette()]
    assert len(palette) == len(set(palette)) == 54
    # no grey: channels never all equal
    assert all(max(c) - min(c) > 0.02 for c in palette)


def _crowded_map(n_clusters: int = 80):
    """Many clusters of falling sizes whose centroids crowd the middle of the map."""
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=1.0, size=(n_clusters, 2))
    sizes = (10 + 400 / np.arange(1, n_clusters + 1)).astype(int)
    labels = np.repeat(np.arange(n_clusters), sizes)
    points = centres[labels] + rng.normal(scale=0.15, size=(len(labels), 2))
    names = {f: f"cluster {f:02d} lens / zoom" for f in range(n_clusters)}
    return points, labels, names, sizes


def _overlapping_pairs(boxes) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, a in enumerate(boxes)
        for j, b in enumerate(boxes[i + 1 :], start=i + 1)
        if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
    ]


def test_cluster_map_labels_do_not_overlap_and_the_largest_clusters_keep_theirs():
    points, labels, names, sizes = _crowded_map()
    fine_to_coarse = {f: f % 4 for f in names}
    figure = cluster_map_figure(points, labels, "crowded", fine_to_coarse=fine_to_coarse, fine_names=names)
    axis = figure.axes[0]
    # measured at the dpi the PNG is written at
    assert figure.dpi == PNG_DPI
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    assert not _overlapping_pairs([text.get_window_extent(renderer) for text in axis.texts])
    drawn = {text.get_text(): text for text in axis.texts}
    legend = "\n".join(t.get_text() for t in axis.get_legend().get_texts())
    leader_lines = [line.get_xydata() for line in axis.lines]
    plt.close(figure)
    # the crowd was real: some labels had to move (with a leader line) and some were left off
    assert leader_lines and len(drawn) < len(names)
    largest_first = sorted(names, key=lambda f: -sizes[f])
    assert {names[f] for f in largest_first[:10]} <= set(drawn)
    # every label is anchored at its centroid; a moved label's leader line starts there
    for name, text in drawn.items():
        fine = int(name.split()[1])
        np.testing.assert_allclose(text.xy, points[labels == fine].mean(axis=0))
    centroids = np.array([points[labels == f].mean(axis=0) for f in names])
    for line in leader_lines:
        assert np.isclose(centroids, line[0]).all(axis=1).any()
    # a cluster left off the map is named in the legend, under its own topic's entry
    for name in names.values():
        assert name in drawn or name in legend.replace("\n    ", " "), name
    entries = [t.get_text().replace("\n    ", " ") for t in axis.get_legend().get_texts()]
    for entry in entries[1:]:
        group = int(entry.split("\n")[0])
        listed = entry.split("not labelled on the map: ")[1].split("; ") if "\n" in entry else []
        assert all(fine_to_coarse[int(name.split()[1])] == group for name in listed), entry
