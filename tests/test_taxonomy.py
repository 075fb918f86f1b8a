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


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)

TWO = {"classes": [{"id": 0, "name": "background"}, {"id": 1, "name": "a", "point_rule": "bbox_center"}]}


def test_outline_point_of_a_slanted_marking_and_of_the_box_rules():
    from keras_lmk.data.taxonomy import outline_point

    # a slanted quad: its two lowest vertices are (28, 40) and (10, 38); the lower-right end is (28, 40), the
    # lower-left (10, 38); not the bounding box's corners (32, 40) / (0, 40)
    xs, ys = [0, 32, 28, 10], [10, 0, 40, 38]
    for rule, want in (("bbox_bottom_right", [28, 40]), ("bbox_bottom_left", [10, 38]),
                       ("bbox_center", [16, 20]), ("bbox_top_center", [16, 0]),
                       ("bbox_bottom_center", [16, 40])):  # fmt: skip
        got = outline_point(np.array(xs), np.array(ys), rule)
        assert got.dtype == np.float32 and got.shape == (2,)
        np.testing.assert_allclose(got, want)
    # two vertices on the lowest line: the right / left one; one vertex alone: itself
    np.testing.assert_allclose(outline_point([5, 25, 15], [30, 30, 0], "bbox_bottom_right"), [25, 30])
    np.testing.assert_allclose(outline_point([5, 25, 15], [30, 30, 0], "bbox_bottom_left"), [5, 30])
    np.testing.assert_allclose(outline_point([7], [9], "bbox_bottom_right"), [7, 9])
    # a two-point segment: both are its "two lowest vertices", so the right end is (25, 10), a vertex, not the
    # box corner (25, 30)
    np.testing.assert_allclose(outline_point([5, 25], [30, 10], "bbox_bottom_right"), [25, 10])
    np.testing.assert_allclose(outline_point([5, 25], [30, 10], "bbox_bottom_left"), [5, 30])


def test_to_json_round_trips_with_colours_and_the_default_name():
    tax = load_taxonomy()
    again = parse_taxonomy(json.loads(json.dumps(tax.to_json())))
    assert again == tax and again.to_json() == tax.to_json()
    assert set(tax.to_json()) == {"name", "classes"}
    assert set(tax.to_json()["classes"][1]) == {"id", "name", "point_rule", "color"}
    t = parse_taxonomy(
        {**TWO, "classes": [TWO["classes"][0], {**TWO["classes"][1], "color": [1, 2, 3]}]}, "f.json"
    )
    assert t.name == "f.json" and t.classes[1].color == (1, 2, 3) and t.classes[0].color == (255, 255, 255)
    assert parse_taxonomy(TWO).name == "<dict>"


def test_rule_of_and_class_id_refuse_what_is_not_a_landmark_class():
    t = parse_taxonomy(TWO, "two")
    assert t.rule_of(1) == "bbox_center"
    for bad in (0, 2):
        with pytest.raises(KeyError, match=f"class id {bad} is not a landmark class of taxonomy 'two'"):
            t.rule_of(bad)
    with pytest.raises(KeyError, match=r"unknown class 'b' in taxonomy 'two'; known: \['background', 'a'\]"):
        t.class_id("b")
    pts = t.reference_points([[0, 0, 4, 2]], [1])
    assert pts.dtype == np.float32 and pts.tolist() == [[2.0, 1.0]]


@pytest.mark.parametrize(
    "bad, msg",
    [
        (
            {"classes": [{"id": 0, "name": "background"}]},
            r"^x.json: a taxonomy needs background and at least one",
        ),
        ({"classes": [{"id": 0}]}, r"^x.json: malformed taxonomy \(KeyError: 'name'\)$"),
        ({"classes": [{"id": 1, "name": "a"}]}, r"^x.json: class #0 has id 1; ids must be 0..M-1 in order$"),
    ],
)
def test_taxonomy_errors_name_the_source(bad, msg):
    with pytest.raises(TaxonomyError, match=msg):
        parse_taxonomy(bad, "x.json")


def test_taxonomy_files_and_mappings_name_the_file(tmp_path):
    with pytest.raises(TaxonomyError, match="^nowhere: no such taxonomy file or packaged taxonomy$"):
        load_taxonomy("nowhere")
    bad = tmp_path / "t.json"
    bad.write_text("{\n oops")
    with pytest.raises(TaxonomyError, match=rf"^{bad}: invalid JSON at line 2: "):
        load_taxonomy(bad)
    good = tmp_path / "mine.json"
    good.write_text(json.dumps(TWO))
    assert load_taxonomy(good).name == str(good)  # no name in the file: the file's path
    other = tmp_path / "mine.txt"  # not a .json file: never read as one
    other.write_text(json.dumps(TWO))
    with pytest.raises(TaxonomyError, match="no such taxonomy file"):
        load_taxonomy(other)
    tax = parse_taxonomy(TWO, "two")
    cases = (
        ({"mapping": {"x": "zz"}}, "source class 'x' maps to unknown class 'zz'$"),
        ({"mapping": {"x": "background"}}, "source class 'x' maps to background$"),
        ({"map": {}}, "malformed class mapping"),
    )
    for mapping, msg in cases:
        path = tmp_path / "map.json"
        path.write_text(json.dumps(mapping))
        with pytest.raises(TaxonomyError, match=rf"^{path}: .*{msg}"):
            load_class_mapping(path, tax)
