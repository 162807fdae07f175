"""The shared answer checkers: right answers pass, wrong ones say where without leaking."""

from __future__ import annotations

import pytest

from utils.exercises import AnswerError, check_choice, check_number, check_table

TABLE = [{"layer": "conv1", "rf": 3, "jump": 1}, {"layer": "pool", "rf": 4, "jump": 2},
         {"layer": "conv2", "rf": 8, "jump": 2}]


@pytest.mark.parametrize("placeholder", [None, ...])
def test_an_unanswered_exercise_says_so(placeholder):
    with pytest.raises(AnswerError, match="no answer yet"):
        check_number(placeholder, 3, "Exercise 1", "the output size")


def test_check_number_says_too_large_or_small_without_the_answer(capsys):
    with pytest.raises(AnswerError, match="is too large") as caught:
        check_number(13, 12, "Exercise 1", "the output size")
    assert "12" not in str(caught.value)
    with pytest.raises(AnswerError, match="is too small"):
        check_number(11, 12, "Exercise 1", "the output size")
    with pytest.raises(AnswerError, match="should be a number"):
        check_number("12", 12, "Exercise 1", "the output size")
    check_number(12.0004, 12, "Exercise 1", "the output size", abs_tol=1e-3)
    assert "correct" in capsys.readouterr().out


def test_check_choice_never_names_the_right_option():
    with pytest.raises(AnswerError, match="not one of the options"):
        check_choice("d", "b", "Q", ["a", "b", "c"])
    with pytest.raises(AnswerError) as caught:
        check_choice("a", "b", "Q", ["a", "b", "c"])
    assert "'b'" not in str(caught.value)
    check_choice("b", "b", "Q", ["a", "b", "c"])


def test_check_table_reports_the_first_wrong_cell_and_a_count():
    given = [dict(r) for r in TABLE]
    given[1]["rf"], given[2]["jump"] = 5, 4
    with pytest.raises(AnswerError) as caught:
        check_table(given, TABLE, "Ex", key="layer", columns=("rf", "jump"))
    message = str(caught.value)
    assert "row 1 (pool), 'rf': you gave 5, expected 4" in message
    assert "1 more wrong" in message and "conv2" not in message
    with pytest.raises(AnswerError, match="2 rows given"):
        check_table(given[:2], TABLE, "Ex", key="layer", columns=("rf",))
    with pytest.raises(AnswerError, match="not filled in"):
        check_table([{**TABLE[0], "rf": None}, *TABLE[1:]], TABLE, "Ex", key="layer",
                    columns=("rf",))
    check_table([dict(r) for r in TABLE], TABLE, "Ex", key="layer", columns=("rf", "jump"))
