"""Labelled data: the article's table and CSV files, refused with file and line when wrong."""

from __future__ import annotations

import os

import pytest
import torch

import pg
from pg.data import MAX_BYTES


def test_the_article_table_is_hunger_0_1_point1_point9_with_labels_0_1_0_1():
    hunger, p_b = pg.article_data()
    assert hunger.tolist() == pytest.approx([0.0, 1.0, 0.1, 0.9])
    assert p_b.tolist() == [0.0, 1.0, 0.0, 1.0]
    assert hunger.dtype == p_b.dtype == torch.float32


def test_a_csv_file_with_extra_columns_and_blank_lines_loads(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("note,p_b,hunger\nfirst,0,0.25\n\nsecond,1,0.75\n")
    hunger, p_b = pg.load_csv(path)
    assert hunger.tolist() == [0.25, 0.75]
    assert p_b.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "text, where, words",
    [
        ("hunger,target\n0.1,0\n", ":1:", "missing column p_b"),
        ("hunger,p_b,p_b\n0.1,0,1\n", ":1:", "column p_b is named more than once"),
        ("hunger,p_b\n0.1,0\nhalf,1\n", ":3:", "hunger must be a number, got 'half'"),
        ("hunger,p_b\n0.1,1.5\n", ":2:", "p_b must be in [0, 1], got 1.5"),
        ("hunger,p_b\n-0.1,1\n", ":2:", "hunger must be in [0, 1]"),
        ("hunger,p_b\nnan,1\n", ":2:", "hunger must be in [0, 1], got nan"),
        ("hunger,p_b\n0.5\n", ":2:", "expected 2 cells, got 1"),
        ("", "", "empty file"),
        ("hunger,p_b\n", "", "no data rows"),
    ],
)
def test_a_bad_csv_is_refused_with_the_file_name_and_line(tmp_path, text, where, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(pg.DataError) as caught:
        pg.load_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path}{where}")
    assert words in message
    assert "\n" not in message


def test_a_missing_file_or_a_directory_is_refused_by_name(tmp_path):
    with pytest.raises(pg.DataError, match="no such file"):
        pg.load_csv(tmp_path / "absent.csv")
    with pytest.raises(pg.DataError, match="is a directory"):
        pg.load_csv(tmp_path)


def test_a_data_error_is_a_value_error_and_a_usage_error():
    assert issubclass(pg.DataError, ValueError) and issubclass(pg.DataError, pg.UsageError)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: no time or disk spent
    with pytest.raises(
        pg.DataError, match=r"huge.csv: 67,108,865 bytes is more than the 64 MiB this loader reads"
    ):
        pg.load_csv(path)


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e400", "0x1p-2", " "])
def test_infinite_and_odd_numbers_are_refused_with_the_line(tmp_path, cell):
    path = tmp_path / "odd.csv"
    path.write_text(f"hunger,p_b\n0.5,1\n{cell},0\n")
    with pytest.raises(pg.DataError, match=r"odd.csv:3: hunger must be"):
        pg.load_csv(path)


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "labels.csv"
    os.mkfifo(fifo)
    with pytest.raises(pg.DataError, match="not a regular file"):
        pg.load_csv(fifo)


def test_excels_utf8_mark_is_read_and_a_typo_with_an_underscore_is_refused(tmp_path):
    marked = tmp_path / "excel.csv"
    marked.write_bytes("\ufeffhunger,p_b\n0.2,0\n0.8,1\n".encode())
    hunger, target = pg.load_csv(marked)
    assert hunger.tolist() == pytest.approx([0.2, 0.8]) and target.tolist() == [0.0, 1.0]
    typo = tmp_path / "typo.csv"
    typo.write_text("hunger,p_b\n0_1,0\n")
    with pytest.raises(pg.DataError, match="typo.csv:2: hunger must be a number, got '0_1'"):
        pg.load_csv(typo)


def test_a_file_name_too_long_for_the_file_system_is_refused_as_bad_input(tmp_path):
    with pytest.raises(pg.DataError, match="cannot be read"):
        pg.load_csv(tmp_path / ("a" * 300 + ".csv"))
