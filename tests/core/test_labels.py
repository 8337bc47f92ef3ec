"""core/labels.py: a labels.csv beside the images."""

from __future__ import annotations

import pytest

from nmfviewer.core import LoadError, labels_folder, read_labels


def test_labels_by_name_stem_and_subfolder(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "name,label\nface_000.png,alice\nface_001,bob\nsub/face_002.png,carol\n"
        "# a comment\n\nunused.png,dave\n",
        encoding="utf-8",
    )
    names = ["face_000.png", "face_001.png", "sub/face_002.png", "face_003.png"]
    assert read_labels(tmp_path, names) == ("alice", "bob", "carol", "")


def test_no_file_or_no_match_means_no_labels(tmp_path):
    assert read_labels(tmp_path, ["a.png"]) is None
    (tmp_path / "labels.csv").write_text("x.png,1\n", encoding="utf-8")
    assert read_labels(tmp_path, ["a.png"]) is None


def test_tsv_and_header_and_bom(tmp_path):
    (tmp_path / "labels.tsv").write_text("\ufefffile\tlabel\na.png\tcat\n", encoding="utf-8")
    assert read_labels(tmp_path, ["a.png", "b.png"]) == ("cat", "")


def test_a_bad_row_names_the_file_and_line(tmp_path):
    (tmp_path / "labels.csv").write_text("a.png,cat\nb.png\n", encoding="utf-8")
    with pytest.raises(LoadError, match=r"labels\.csv, line 2: expected 'name,label'"):
        read_labels(tmp_path, ["a.png"])


def test_labels_folder_of_sources(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    assert labels_folder([tmp_path]) == tmp_path
    assert labels_folder([tmp_path / "a.png", tmp_path / "b.png"]) == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    assert labels_folder([tmp_path / "a.png", other / "c.png"]) is None
    assert labels_folder([tmp_path, other]) is None
