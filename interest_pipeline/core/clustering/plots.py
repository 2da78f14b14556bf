"""Pictures for Dagster metadata and MLflow artifacts, rendered headless to PNG bytes."""

from __future__ import annotations

import base64
import functools
import importlib.resources
import io
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from interest_pipeline.core.clustering.density_clustering import NOISE  # noqa: E402

# Noto Sans CJK SC (SIL Open Font License), shipped inside the mplfonts wheel from the package
# index, so a fresh machine needs no system font: matplotlib's DejaVu Sans has no CJK glyphs and
# would draw Chinese labels as empty boxes. It is a fallback: Latin text keeps DejaVu Sans.
CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"


@functools.cache
def use_cjk_fallback_font() -> str | None:
    """Register the packaged CJK font and put it after DejaVu Sans; its family name, or None
    where the font package is not installed (Chinese labels then render as boxes). Done once, on
    the first figure: reading the font costs about a second, which loading the code location
    should not pay."""
    try:
        path = importlib.resources.files("mplfonts") / "fonts" / CJK_FONT_FILE
    except ModuleNotFoundError:
        return None
    if not path.is_file():
        return None
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    # Matplotlib falls back glyph by glyph along font.family (not inside a generic family's list).
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", name]
    return name


PNG_DPI = 90


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def project_2d(reduced: np.ndarray) -> np.ndarray:
    """A cheap 2-D view of the reduced space (PCA), enough to see separation."""
    if reduced.shape[1] <= 2:
        return np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
    centred = reduced - reduced.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def group_palette() -> list[tuple]:
    """Distinct colours for coarse groups: tab20, tab20b and tab20c without their greys (the noise
    is light grey), 54 colours before any repeats."""
    greys = {"tab20": {14, 15}, "tab20b": set(), "tab20c": {16, 17, 18, 19}}
    return [plt.get_cmap(name)(i) for name, skip in greys.items() for i in range(20) if i not in skip]


def _group_colours(groups: list[int]):
    """One colour per coarse group (topic or segment group); more groups than colours cycle."""
    palette = group_palette()
    return {g: palette[i % len(palette)] for i, g in enumerate(sorted(groups))}


LABEL_FONT_SIZE = 6
LABEL_PAD = 0.15  # the white box around a label, in font sizes
# Where a label whose place at its centroid is taken may go instead, in steps of its own width
# and height (plus a gap), nearest first: three rings in eight directions.
_LABEL_DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))
_LABEL_RINGS = (1, 2, 3)


def boxes_overlap(box: np.ndarray, placed: np.ndarray) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) overlaps any row of ``placed``; touching edges do not."""
    if not len(placed):
        return False
    return bool(
        np.any((box[0] < placed[:, 2]) & (placed[:, 0] < box[2]) & (box[1] < placed[:, 3]) & (placed[:, 1] < box[3]))
    )


def label_offsets(width: float, height: float, gap: float) -> list[tuple[float, float]]:
    """Candidate shifts of a label of ``width`` x ``height`` (display units), nearest first."""
    offsets = [
        (dx * ring * (width + gap), dy * ring * (height + gap)) for ring in _LABEL_RINGS for dx, dy in _LABEL_DIRECTIONS
    ]
    return sorted(offsets, key=lambda o: (o[0] ** 2 + o[1] ** 2, offsets.index(o)))


def _place_cluster_labels(figure, axis, centres: dict[int, np.ndarray], names: dict[int, str], order: list[int]):
    """Label each cluster at its centroid, in ``order`` (largest first); a label whose box would
    overlap one already placed moves to the nearest free place inside the axes, with a leader line
    to its centroid, or is left off. Returns the clusters left off."""
    # freeze the view: the label boxes are measured in display units, which the view defines
    axis.set_xlim(axis.get_xlim())
    axis.set_ylim(axis.get_ylim())
    renderer = figure.canvas.get_renderer()
    points_per_pixel = 72 / figure.dpi
    pad = LABEL_PAD * LABEL_FONT_SIZE / points_per_pixel + 1  # the white box, and a pixel to spare
    frame = axis.get_window_extent(renderer).extents
    placed = np.empty((0, 4))
    left_off = []
    for fine in order:
        label = axis.annotate(
            names.get(fine, str(fine)),
            centres[fine],
            fontsize=LABEL_FONT_SIZE,
            ha="center",
            va="center",
            bbox={"boxstyle": f"round,pad={LABEL_PAD}", "facecolor": "white", "alpha": 0.7, "linewidth": 0},
        )
        box = label.get_window_extent(renderer).extents + np.array([-pad, -pad, pad, pad])
        if not boxes_overlap(box, placed):
            placed = np.vstack([placed, box])
            continue
        width, height = box[2] - box[0], box[3] - box[1]
        for dx, dy in label_offsets(width, height, gap=pad):
            moved = box + np.array([dx, dy, dx, dy])
            inside = frame[0] <= moved[0] and frame[1] <= moved[1] and moved[2] <= frame[2] and moved[3] <= frame[3]
            if inside and not boxes_overlap(moved, placed):
                # offset points, not pixels: the label and its offset scale together at any dpi
                label.set_position((dx * points_per_pixel, dy * points_per_pixel))
                label.set_anncoords("offset points")
                placed = np.vstack([placed, moved])
                # the leader line runs from the centroid to the nearest point of the label's box
                centre_px = axis.transData.transform(centres[fine])
                end_px = np.clip(centre_px, moved[:2] + pad, moved[2:] - pad)
                (x0, y0), (x1, y1) = axis.transData.inverted().transform([centre_px, end_px])
                axis.add_line(Line2D([x0, x1], [y0, y1], color="dimgrey", linewidth=0.5, zorder=2.5))
                break
        else:
            label.remove()
            left_off.append(fine)
    return left_off


def cluster_map_figure(
    points_2d: np.ndarray,
    labels: np.ndarray,
    title: str,
    fine_to_coarse: dict[int, int] | None = None,
    fine_names: dict[int, str] | None = None,
    coarse_names: dict[int, str] | None = None,
    coarse_title: str = "coarse cluster",
    max_points: int = 20000,
):
    """Points coloured by their coarse group (topic), each fine cluster's centroid labelled with
    its name, one legend entry per coarse group; noise in light grey. Labels never overlap: the
    largest clusters are labelled first, a label with no free place near its centroid is left off
    the map and named in its group's legend entry instead."""
    fine_to_coarse = (
        fine_to_coarse if fine_to_coarse is not None else {int(f): int(f) for f in set(labels.tolist()) - {NOISE}}
    )
    fine_names = fine_names or {}
    coarse_names = coarse_names or {}
    if len(points_2d) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(points_2d), max_points, replace=False))
        points_2d, labels = points_2d[keep], labels[keep]
    colours = _group_colours(list(set(fine_to_coarse.values())))
    use_cjk_fallback_font()
    # drawn at the PNG's dpi: the label boxes are measured in pixels, and text does not scale
    # exactly with the dpi (glyphs snap to whole pixels)
    figure, axis = plt.subplots(figsize=(14, 10), dpi=PNG_DPI)
    noise = labels == NOISE
    noise_handle = axis.scatter(
        points_2d[noise, 0],
        points_2d[noise, 1],
        s=3,
        c="lightgrey",
        rasterized=True,
    )
    legend = [
        (noise_handle, f"noise ({int(noise.sum()):,} of {len(labels):,}, {noise.mean() if len(labels) else 0:.1%})")
    ]
    group_entries = {}
    coarse_of_point = np.array([fine_to_coarse.get(int(f), NOISE) for f in labels], dtype=np.int64)
    for group, colour in colours.items():
        members = (coarse_of_point == group) & ~noise
        if members.any():
            handle = axis.scatter(points_2d[members, 0], points_2d[members, 1], s=5, color=colour, rasterized=True)
            group_entries[group] = len(legend)
            legend.append((handle, coarse_names.get(group, str(group))))
    fine_ids, sizes = np.unique(labels[~noise], return_counts=True)
    order = [int(f) for f, _ in sorted(zip(fine_ids, sizes), key=lambda fs: (-fs[1], fs[0]))]
    centres = {fine: points_2d[labels == fine].mean(axis=0) for fine in order}
    left_off = _place_cluster_labels(figure, axis, centres, fine_names, order)
    # every cluster stays named: one left off the map is listed under its group's legend entry
    # (under an entry of its own where it has no group)
    groups_left_off = {fine_to_coarse.get(f, NOISE) for f in left_off}
    for group in sorted(groups_left_off, key=lambda g: g not in group_entries):
        names = "; ".join(fine_names.get(f, str(f)) for f in sorted(left_off) if fine_to_coarse.get(f, NOISE) == group)
        unlabelled = textwrap.fill(f"not labelled on the map: {names}", width=60, subsequent_indent="    ")
        if group in group_entries:
            handle, text = legend[group_entries[group]]
            legend[group_entries[group]] = (handle, f"{text}\n{unlabelled}")
        else:
            legend.append((Line2D([], [], linestyle="none"), unlabelled))
    axis.legend(
        [handle for handle, _ in legend],
        [text for _, text in legend],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        markerscale=3,
        frameon=False,
        title=f"colour: {coarse_title}",
    )
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    return figure


def cluster_map_png(points_2d: np.ndarray, labels: np.ndarray, title: str, **names) -> bytes:
    return _png(cluster_map_figure(points_2d, labels, title, **names))


def silhouette_bar_figure(per_cluster: dict[str, float], title: str):
    """One bar per cluster, best first, each labelled with its name and value."""
    names = sorted(per_cluster, key=lambda n: (-per_cluster[n], n))
    values = [per_cluster[n] for n in names]
    use_cjk_fallback_font()
    figure, axis = plt.subplots(figsize=(9, max(2.5, 0.24 * len(names) + 1)))
    bars = axis.barh(names, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    axis.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=6, padding=2)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.invert_yaxis()
    axis.set_xlabel("mean silhouette (cosine)")
    axis.set_title(title)
    axis.tick_params(axis="y", labelsize=7)
    axis.margins(x=0.12)
    return figure


def silhouette_bar_png(per_cluster: dict[str, float], title: str) -> bytes:
    return _png(silhouette_bar_figure(per_cluster, title))


def topic_tree_rows(tree: dict) -> list[tuple[str, int, int, bool]]:
    """(label, size, topic index, is_topic) per bar: every topic followed by every one of its subtopics."""
    rows = []
    for index, topic in enumerate(tree.get("children", [])):
        rows.append((f"{topic['id']}  {topic['label']}", topic["size"], index, True))
        rows.extend((f"    {sub['id']}  {sub['label']}", sub["size"], index, False) for sub in topic["children"])
    return rows


def topic_tree_figure(tree: dict):
    """The taxonomy as grouped bars: one colour per topic, one bar per subtopic (its size)."""
    rows = topic_tree_rows(tree)
    palette = plt.get_cmap("tab10")
    colours = [palette(index % 10) if is_topic else (*palette(index % 10)[:3], 0.45) for _, _, index, is_topic in rows]
    use_cjk_fallback_font()
    figure, axis = plt.subplots(figsize=(9, max(3.0, 0.2 * len(rows) + 1)))
    axis.barh(range(len(rows)), [size for _, size, _, _ in rows], color=colours)
    axis.set_yticks(range(len(rows)), [name for name, _, _, _ in rows], fontsize=7)
    for y, (_, _, _, is_topic) in enumerate(rows):
        if is_topic and y:
            axis.axhline(y - 0.5, color="grey", linewidth=0.5)
    axis.invert_yaxis()
    axis.set_xlabel("items and comments")
    axis.set_title("topics (dark) and all their subtopics (light)")
    return figure


def topic_tree_png(tree: dict) -> bytes:
    return _png(topic_tree_figure(tree))


def markdown_image(png: bytes, alt: str) -> str:
    """Inline PNG for ``MetadataValue.md``; the Dagster UI renders data URIs."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
