import json

import numpy as np
import pytest

from keras_lmk.data.taxonomy import TaxonomyError, load_class_mapping, load_taxonomy, parse_taxonomy


def test_korean_taxonomy_ids_names_and_rules():
    tax = load_taxonomy()
    assert tax.names == [
        "background",
        "warning",
        "regulatory",
        "indicating",
        "auxiliary",
        "signal",
        "road_marking",
    ]
    assert [tax.rule_of(i) for i in range(1, 7)] == ["bbox_center"] * 5 + ["bbox_bottom_right"]


def test_reference_point_rules_on_hand_made_boxes():
    tax = load_taxonomy()
    boxes = [[10, 20, 30, 60], [10, 20, 30, 60], [0, 0, 5, 5]]
    pts = tax.reference_points(boxes, [1, 6, 5])
    np.testing.assert_allclose(pts, [[20, 40], [30, 60], [2.5, 2.5]])


def test_another_country_is_another_file(tmp_path):
    f = tmp_path / "mutcd.json"
    f.write_text(
        json.dumps(
            {
                "name": "mutcd",
                "classes": [
                    {"id": 0, "name": "background", "point_rule": None},
                    {"id": 1, "name": "marking", "point_rule": "bbox_bottom_center"},
                ],
            }
        )
    )
    tax = load_taxonomy(f)
    np.testing.assert_allclose(tax.reference_points([[0, 0, 10, 4]], [1]), [[5, 4]])
    assert tax.flip_safe()
    assert not load_taxonomy().flip_safe()  # lower-right road-marking rule
    assert tax.edge_point_classes() == (1,)  # bottom centre: on the edge, its anchors above it
    assert load_taxonomy().edge_point_classes() == (6,)  # korea: road_marking only (signs, signals: centres)


@pytest.mark.parametrize(
    "bad, msg",
    [
        (
            {"classes": [{"id": 0, "name": "bg"}, {"id": 1, "name": "a", "point_rule": "bbox_center"}]},
            "background",
        ),
        (
            {"classes": [{"id": 0, "name": "background"}, {"id": 1, "name": "a", "point_rule": "nope"}]},
            "point_rule",
        ),
        (
            {
                "classes": [
                    {"id": 0, "name": "background"},
                    {"id": 2, "name": "a", "point_rule": "bbox_center"},
                ]
            },
            "id",
        ),
    ],
)
def test_bad_taxonomy_names_the_problem(bad, msg):
    with pytest.raises(TaxonomyError, match=msg):
        parse_taxonomy(bad, "x.json")


def test_gtsdb_mapping_matches_issue_table():
    tax = load_taxonomy()
    m = load_class_mapping("gtsdb_to_korea", tax)
    assert len(m) == 43
    warning = {11, *range(18, 32)}
    indicating = {12, *range(33, 41)}
    for k in range(43):
        want = "warning" if k in warning else "indicating" if k in indicating else "regulatory"
        assert tax.names[m[str(k)]] == want, k
