"""Small-cell and complementary suppression: no withheld count can be worked out from the
figures shown.

The check here is independent of the algorithm's own (graph) reasoning: it writes out every
equation a reader has (each published total is the sum of its line) and asks, with exact
rational arithmetic, whether a withheld count is a linear combination of them, i.e. whether any
sequence of additions and subtractions of displayed figures yields it.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idsys.reports.suppression import (
    GROUND,
    Pos,
    Protected,
    ProtectionError,
    Suppressed,
    bridges,
    protect,
)

Equation = dict[Pos, int]


def equations(table: Protected) -> list[Equation]:
    """Each published total minus the entries it adds up: zero."""
    m, n = table.rows, table.cols
    found: list[Equation] = []
    if table.has_row_totals:
        found += [{**{(i, j): 1 for j in range(n)}, (i, n): -1} for i in range(m)]
    if table.has_col_totals:
        found += [{**{(i, j): 1 for i in range(m)}, (m, j): -1} for j in range(n)]
    if table.has_grand_total:
        found.append({**{(m, j): 1 for j in range(n)}, (m, n): -1})
        found.append({**{(i, n): 1 for i in range(m)}, (m, n): -1})
    return found


def _rank(rows: list[list[Fraction]]) -> int:
    rows = [row[:] for row in rows]
    rank = 0
    for col in range(len(rows[0]) if rows else 0):
        pivot = next((k for k in range(rank, len(rows)) if rows[k][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for k, row in enumerate(rows):
            if k != rank and row[col] != 0:
                factor = row[col] / rows[rank][col]
                rows[k] = [a - factor * b for a, b in zip(row, rows[rank], strict=True)]
        rank += 1
    return rank


def derivable(table: Protected) -> list[Pos]:
    """The withheld entries that follow from the shown ones by linear algebra.

    Known entries move to the right-hand side; a withheld entry is determined exactly when its
    unit vector lies in the row space of the equations restricted to the withheld entries.
    """
    unknown = sorted(table.suppressed)
    matrix = [[Fraction(eq.get(pos, 0)) for pos in unknown] for eq in equations(table)]
    matrix = [row for row in matrix if any(row)]
    base = _rank(matrix)
    found = []
    for pos in unknown:
        unit = [Fraction(int(other == pos)) for other in unknown]
        if _rank([*matrix, unit]) == base:
            found.append(pos)
    return found


def displayed(table: Protected) -> dict[Pos, str]:
    return {pos: table.marker(pos) or str(table.values[pos]) for pos in table.values}


def one_column(values: list[int], threshold: int = 10) -> Protected:
    cells = [[v] for v in values]
    return protect(cells, threshold, row_totals=False, col_totals=True, locked=[(len(cells), 0)])


def two_way(cells: list[list[int]], threshold: int = 10) -> Protected:
    grand = (len(cells), len(cells[0]))
    return protect(cells, threshold, row_totals=True, col_totals=True, locked=[grand])


def test_counts_below_the_threshold_are_shown_as_less_than_it() -> None:
    table = one_column([40, 3, 0, 25, 30])
    shown = displayed(table)
    assert shown[(1, 0)] == "<10"
    assert shown[(2, 0)] == "<10"  # a zero is a count below the threshold too
    assert shown[(5, 0)] == "98"  # the total stays
    assert table.suppressed[(1, 0)] is Suppressed.PRIMARY
    assert derivable(table) == []


def test_a_lone_small_cell_takes_the_next_smallest_with_it() -> None:
    """One small count in a column with its total shown: total minus the others would give it
    away, so the next-smallest count is withheld too (marked x: it is not itself small)."""
    table = one_column([40, 3, 25, 30])
    assert displayed(table) == {
        (0, 0): "40",
        (1, 0): "<10",
        (2, 0): "x",
        (3, 0): "30",
        (4, 0): "98",
    }
    assert derivable(table) == []
    # Both withheld counts really are uncertain: two different columns fit what is shown.
    assert 40 + 3 + 25 + 30 == 40 + 4 + 24 + 30 == 98


def test_complementary_suppression_in_a_two_way_table() -> None:
    """A small cell in a table with row and column totals: withholding it alone leaves it
    equal to its row total minus the row's other cells. The algorithm withholds a rectangle
    (two cells in its row and column, one opposite) so that no subtraction isolates any of
    them."""
    cells = [
        [120, 4, 60],
        [80, 35, 41],
        [90, 50, 70],
    ]
    table = two_way(cells)
    assert table.suppressed[(0, 1)] is Suppressed.PRIMARY
    complementary = {p for p, k in table.suppressed.items() if k is Suppressed.COMPLEMENTARY}
    assert complementary == {(1, 1), (0, 2), (1, 2)}  # the cheapest rectangle: 35, 60, 41
    shown = displayed(table)
    assert shown[(0, 3)] == "184"  # row totals, column totals and the grand total all stay
    assert shown[(3, 1)] == "89"
    assert shown[(3, 3)] == "550"
    assert derivable(table) == []
    # Without the complementary cells, subtraction gives the small one away at once.
    naive = Protected(3, 3, True, True, 10, table.values, {(0, 1): Suppressed.PRIMARY})
    assert derivable(naive) == [(0, 1)]
    # And with them, moving one unit round the rectangle keeps every figure shown.
    other = [row[:] for row in cells]
    other[0][1] += 1
    other[0][2] -= 1
    other[1][1] -= 1
    other[1][2] += 1
    again = two_way(other)
    assert {p: v for p, v in displayed(again).items() if p not in table.suppressed} == {
        p: v for p, v in displayed(table).items() if p not in table.suppressed
    }


def test_small_totals_are_suppressed_and_protected_too() -> None:
    cells = [
        [3, 2],
        [1, 2],
        [30, 30],
    ]
    table = two_way(cells)
    assert table.marker((0, 2)) == "<10"  # a row total of 5 is a small count like any other
    assert table.marker((1, 2)) == "<10"
    assert displayed(table)[(3, 2)] == "68"
    assert derivable(table) == []


def test_two_lines_with_two_withheld_each_can_still_leak() -> None:
    """Why the algorithm checks cycles, not "at least two withheld per line": two rectangles
    joined by one cell have two or more withheld in every line, yet that cell is derivable."""
    full = two_way([[20] * 4 for _ in range(4)])
    pattern = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)}
    leaky = Protected(4, 4, True, True, 10, full.values, dict.fromkeys(pattern, Suppressed.PRIMARY))
    for line in range(4):
        assert sum(1 for p in pattern if p[0] == line) >= 2
        assert sum(1 for p in pattern if p[1] == line) >= 2
    assert derivable(leaky) == [(0, 2)]
    ends = {pos: (("row", pos[0]), ("col", pos[1])) for pos in pattern}
    assert bridges(ends) == [(0, 2)]  # the graph test finds exactly the derivable one


def test_figures_shown_elsewhere_are_never_withheld_as_complementary() -> None:
    table = one_column([40, 3, 25, 30])
    assert (4, 0) not in table.suppressed
    with pytest.raises(ProtectionError):
        # Only one other count, and it is locked (shown in another table): fail closed.
        protect([[3], [40]], 10, row_totals=False, col_totals=True, locked=[(2, 0), (1, 0)])


def test_a_small_locked_total_is_suppressed_with_everything_under_it() -> None:
    table = one_column([3, 2, 0])
    assert set(table.suppressed) == {(0, 0), (1, 0), (2, 0), (3, 0)}
    assert derivable(table) == []


def test_a_single_month_table_keeps_its_grand_total() -> None:
    """One row: the row total is the grand total, shown in other tables, so it is locked too."""
    table = two_way([[500, 3, 20]])
    assert (0, 3) not in table.suppressed and (1, 3) not in table.suppressed
    assert derivable(table) == []


def test_the_ground_vertex_stands_for_lines_without_a_total() -> None:
    ends = {(0, 0): (GROUND, ("col", 0)), (1, 0): (GROUND, ("col", 0))}
    assert bridges(ends) == []  # two in one column: parallel edges, a cycle
    assert bridges({(0, 0): (GROUND, ("col", 0))}) == [(0, 0)]


counts = st.integers(min_value=0, max_value=60) | st.sampled_from([0, 1, 2, 9, 10, 11, 500])


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[list[int]], bool]:
    rows = draw(st.integers(min_value=1, max_value=7))
    cols = draw(st.integers(min_value=2, max_value=6))
    cells = [[draw(counts) for _ in range(cols)] for _ in range(rows)]
    return cells, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(tables(), st.sampled_from([3, 5, 10, 11]))
def test_no_withheld_count_can_be_derived_from_what_is_shown(
    table: tuple[list[list[int]], bool], threshold: int
) -> None:
    cells, two_dimensional = table
    if two_dimensional:
        result = two_way(cells, threshold)
        locked = [(len(cells), len(cells[0]))]
    else:
        result = protect(
            cells,
            threshold,
            row_totals=False,
            col_totals=True,
            locked=[(len(cells), j) for j in range(len(cells[0]))],
        )
        locked = [(len(cells), j) for j in range(len(cells[0]))]
    assert derivable(result) == []
    for pos, value in result.values.items():
        if value < threshold:
            assert result.suppressed.get(pos) is Suppressed.PRIMARY
        if pos in locked and value >= threshold:
            assert pos not in result.suppressed


def test_every_shape_the_dashboard_uses_can_be_protected() -> None:
    """Months × kinds and categories × one measure, with the worst case: every cell small but
    the totals not."""
    for rows, cols in itertools.product(range(1, 13), range(2, 6)):
        cells = [[(i * cols + j) % 9 + 1 for j in range(cols)] for i in range(rows)]
        assert derivable(two_way(cells)) == []
        assert derivable(one_column([row[0] for row in cells])) == []
