import numpy as np

from interest_pipeline.core.clustering.hierarchy import build_hierarchy, hierarchy_as_tree, node_ids, tree_as_markdown


def test_node_ids_carry_their_parent():
    subtopics, topics = node_ids(np.array([0, 1, -1]), np.array([2, 0, -1]))
    assert subtopics == ["t02.s000", "t00.s001", None]
    assert topics == ["t02", "t00", None]


def test_hierarchy_has_root_topics_subtopics_with_labels_and_sizes():
    subtopics = ["t00.s000"] * 3 + ["t00.s001"] * 2 + ["t01.s002"] * 2 + [None]
    topics = ["t00"] * 5 + ["t01"] * 2 + [None]
    tokens = [
        ["running", "shoes"],
        ["running", "trail"],
        ["running"],
        ["tennis", "racket"],
        ["tennis"],
        ["espresso", "coffee"],
        ["coffee"],
        ["noise"],
    ]
    vectors = np.eye(8, dtype=np.float32)
    nodes = build_hierarchy(subtopics, topics, vectors, tokens)
    rows = {r["node_id"]: r for r in nodes.iter_rows(named=True)}
    assert rows["root"]["parent_id"] is None and rows["root"]["size"] == 7
    assert rows["t00"]["parent_id"] == "root" and rows["t00"]["size"] == 5
    assert rows["t00.s001"]["parent_id"] == "t00" and rows["t00.s001"]["size"] == 2
    assert rows["t00.s000"]["keywords"][0] == "running"
    assert rows["t01.s002"]["keywords"][0] == "coffee"
    assert "noise" not in {k for r in rows.values() for k in r["keywords"]}
    assert np.allclose(np.linalg.norm(np.vstack(nodes["centroid"].to_list()), axis=1), 1.0, atol=1e-6)

    tree = hierarchy_as_tree(nodes)
    assert tree["id"] == "root" and [t["id"] for t in tree["children"]] == ["t00", "t01"]
    assert [s["id"] for s in tree["children"][0]["children"]] == ["t00.s000", "t00.s001"]
    assert "t00.s001" in tree_as_markdown(tree)
