import math

import polars as pl
import pytest

from interest_pipeline.core.clustering.catalogue_agreement import catalogue_agreement, dominant_categories, purity

ITEMS = pl.DataFrame(
    {
        "item_id": ["a", "b", "c", "d", "e", "f"],
        "subtopic_id": ["t00.s000", "t00.s000", "t00.s001", "t01.s002", "t01.s002", None],
        "topic_id": ["t00", "t00", "t00", "t01", "t01", None],
    }
)


def test_agreement_is_reported_per_level_and_category_column():
    catalogue = pl.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e", "f"],
            "category": ["Sports", "Sports", "Sports", "Books", "Books", "Books"],
            "subcategory": ["Running", "Running", "Tennis", "Novels", "Poetry", None],
        }
    )
    scores = catalogue_agreement(ITEMS, catalogue)
    assert scores["catalogue/category/topic_nmi"] == pytest.approx(1.0)
    assert scores["catalogue/category/topic_purity"] == pytest.approx(1.0)
    assert scores["catalogue/subcategory/subtopic_purity"] == pytest.approx(4 / 5)  # d, e share a subtopic
    assert scores["catalogue/subcategory/items"] == 5  # unplaced f and missing categories are left out
    assert scores["catalogue/category/topic_ari"] > scores["catalogue/subcategory/subtopic_ari"]


def test_a_catalogue_without_categories_reports_nothing():
    assert catalogue_agreement(ITEMS, pl.DataFrame({"item_id": ["a"], "brand": ["x"]})) == {}
    assert dominant_categories(ITEMS, pl.DataFrame({"item_id": ["a"], "brand": ["x"]})).height == 0


def test_each_node_gets_its_dominant_finest_category():
    catalogue = pl.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e"],
            "category": ["Sports"] * 3 + ["Books"] * 2,
            "category_path": [
                "Sports > Running",
                "Sports > Running",
                "Sports > Tennis",
                "Books > Novels",
                "Books > Poetry",
            ],
        }
    )
    dominant = {
        r["node_id"]: (r["dominant_category"], r["dominant_category_share"])
        for r in dominant_categories(ITEMS, catalogue).iter_rows(named=True)
    }
    assert dominant["t00.s000"] == ("Sports > Running", 1.0)
    assert dominant["t00"][0] == "Sports > Running" and math.isclose(dominant["t00"][1], 2 / 3)
    assert dominant["t01.s002"][1] == 0.5 and dominant["t01.s002"][0] == "Books > Novels"  # ties: alphabetical


def test_purity_of_nothing_is_undefined():
    assert math.isnan(purity(pl.Series([], dtype=pl.String), pl.Series([], dtype=pl.String)))


def test_ami_sees_through_many_small_random_clusters_where_nmi_does_not():
    import numpy as np

    rng = np.random.default_rng(0)
    n = 600
    items = pl.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n)],
            "subtopic_id": [f"s{v}" for v in rng.integers(0, 150, n)],  # random: no relation to the category
            "topic_id": [f"t{i % 2}" for i in range(n)],
        }
    )
    catalogue = pl.DataFrame({"item_id": items["item_id"], "category": [f"c{i % 2}" for i in range(n)]})
    scores = catalogue_agreement(items, catalogue)
    assert scores["catalogue/category/subtopic_nmi"] > 0.04  # NMI rewards the many clusters
    assert abs(scores["catalogue/category/subtopic_ami"]) < 0.02  # chance-corrected: nothing
    assert scores["catalogue/category/topic_ami"] == pytest.approx(1.0)
