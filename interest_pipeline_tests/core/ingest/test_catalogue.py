import json

import polars as pl
import pytest

from interest_pipeline.core.ingest.catalogue import MAX_DERIVED_TITLE_CHARS, item_text, read_item_file, validate_items


def catalogue(**columns) -> pl.DataFrame:
    """Rows as ``read_item_file`` gives them: every value a string."""
    n = len(next(iter(columns.values())))
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    return frame.with_columns(
        pl.Series("source_row", range(2, n + 2), pl.Int64), pl.lit("items.csv").alias("source_file")
    )


@pytest.mark.parametrize(
    "fields, title",
    [
        ({"description": "Sea salt spray for beachy waves. Vegan, cruelty free."}, "Sea salt spray for beachy waves"),
        ({"description": "清爽不油腻的日常保湿面霜。适合所有肤质"}, "清爽不油腻的日常保湿面霜"),
        ({"description": "Whipped butter!\nSecond line"}, "Whipped butter"),
        (
            {"description": "  ", "category_path": "Beauty > Hair Care > Sprays", "store": "Herbivore"},
            "Sprays (Herbivore)",
        ),
        ({"category": "Hair Care", "brand": "Curl Lab"}, "Hair Care (Curl Lab)"),
        ({"category_path": "lifestyle/lifestylebuzz", "category": "lifestyle"}, "lifestylebuzz"),
        ({"subcategory": "Dry Shampoos", "category": "Hair Care"}, "Dry Shampoos"),
        ({"store": "Unknown", "brand": "Barber Co."}, "Barber Co."),
        ({"description": "N/A", "store": "PureGlow"}, "PureGlow"),
    ],
)
def test_an_item_without_a_title_gets_one_from_its_other_fields(fields, title):
    columns = {"item_id": ["i1"], "title": [None], "description": [None]}
    columns.update({k: [v] for k, v in fields.items()})
    accepted, rejected = validate_items(catalogue(**columns))
    assert rejected.height == 0
    assert accepted.select("title", "title_derived").row(0) == (title, True)


def test_a_long_first_sentence_is_cut_at_a_word():
    description = "word " * 100 + "end."
    accepted, _ = validate_items(catalogue(item_id=["i1"], title=[""], description=[description]))
    title = accepted["title"][0]
    assert title.endswith("…") and len(title) <= MAX_DERIVED_TITLE_CHARS + 1 and "wor…" not in title


def test_items_with_a_title_keep_it_and_are_not_flagged():
    accepted, _ = validate_items(
        catalogue(item_id=["i1"], title=[" Matte Pomade "], description=["Strong hold. For men."], store=["Barber Co."])
    )
    assert accepted.select("title", "title_derived").row(0) == (" Matte Pomade ", False)
    assert item_text(accepted).to_list() == ["Matte Pomade . Strong hold. For men"]


def test_an_item_that_nothing_describes_is_rejected_with_its_reason():
    frame = catalogue(
        item_id=["i1", "i2", "i3", ""],
        title=[None, "  ", None, "T"],
        description=[None, "", "Real text.", None],
        store=["unknown", None, None, None],
        category_path=["", "-", None, None],
    )
    accepted, rejected = validate_items(frame)
    assert accepted["item_id"].to_list() == ["i3"]
    assert rejected.select("source_row", "reason").rows() == [
        (
            2,
            "missing title, and nothing to derive one from (description, category_path, subcategory, category, store, brand)",
        ),
        (
            3,
            "missing title, and nothing to derive one from (description, category_path, subcategory, category, store, brand)",
        ),
        (5, "missing item_id"),
    ]
    assert json.loads(rejected["raw_row"][0]) == {
        "item_id": "i1",
        "title": None,
        "description": None,
        "store": "unknown",
        "category_path": "",
    }


def test_the_item_text_does_not_repeat_a_title_taken_from_the_description():
    accepted, _ = validate_items(
        catalogue(
            item_id=["i1", "i2"],
            title=[None, None],
            description=["Soft bristles. Travel case.", None],
            store=[None, "Bestope"],
        )
    )
    assert item_text(accepted).to_list() == ["Soft bristles. Travel case", "Bestope"]


def test_derived_titles_from_a_file(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,title,description,store\ni1,,Deep cleansing mask.,PureGlow\ni2,Brush set,,\ni3,,,\n", encoding="utf-8"
    )
    accepted, rejected = validate_items(read_item_file(path))
    assert accepted.select("item_id", "title", "title_derived").rows() == [
        ("i1", "Deep cleansing mask", True),
        ("i2", "Brush set", False),
    ]
    assert rejected.select("source_file", "source_row").rows() == [(str(path), 4)]
