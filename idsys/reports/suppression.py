"""Small-cell suppression with complementary suppression for count tables (pure: no DB, no Flask).

A table is a grid of counts, optionally with row totals, column totals and (when it has both) a
grand total. Every count below the threshold is suppressed (*primary* suppression). Then further
counts are withheld (*complementary* suppression) until no suppressed count can be worked out by
adding and subtracting what is still shown.

Why the check is exact. Write each total as part of the line it closes: a row's cells minus the
row total make 0, and so on for columns, for the row of column totals and the column of row
totals (their lines close on the grand total). A line whose total is not published gives no
equation: all such lines are one "ground" vertex. Now draw a graph whose vertices are the lines
with an equation (plus ground) and whose edges are the *suppressed* entries, each joining its row
line and its column line. The suppressed entries are the unknowns of a linear system whose
matrix is this graph's incidence matrix (signs flipped on the total lines, which changes
nothing). An unknown is fixed by the system exactly when its edge lies on no cycle: a cycle gives
a change (+1, -1, +1, ... around it) that keeps every published figure, and an edge on no cycle
(a *bridge*) is orthogonal to all such changes, so it is a combination of the equations. Hence:

    a suppressed count can be derived from the displayed figures  <=>  its edge is a bridge.

The algorithm suppresses the primary cells, then, while a bridge remains, withholds the cheapest
shown entries that close a cycle through it: a shortest path between the bridge's two lines, each
shown entry costing its count. For a lone small cell in a column with its total that is the
next-smallest cell of the column (the familiar rule); in a table with row and column totals, the
cheapest rectangle. Each step withholds at least one more entry, so it ends; and with every entry
but the locked ones withheld, the tables used here have no bridge, so it always succeeds.

*Locked* entries are figures that other tables also show (a programme-wide total such as all
approvals in the period): complementary suppression never picks them, so one figure is never
hidden in one table and shown in another. Their primary suppression is the same everywhere.

What this does not protect: the same figures asked for over two overlapping periods can be
subtracted from each other; see README, "Statistics".
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

Pos = tuple[int, int]
Vertex = tuple[str, int]
GROUND: Vertex = ("ground", 0)


class Suppressed(StrEnum):
    PRIMARY = "primary"  # below the threshold
    COMPLEMENTARY = "complementary"  # withheld so that a primary one cannot be derived


class ProtectionError(RuntimeError):
    """No safe pattern exists without hiding a locked figure: fail closed, show nothing."""


@dataclass(frozen=True)
class Protected:
    """A table ready to display. Positions are (row, column) in the grid with its totals: the
    row totals are column ``cols``, the column totals row ``rows``, the grand total both."""

    rows: int
    cols: int
    has_row_totals: bool
    has_col_totals: bool
    threshold: int
    values: dict[Pos, int]
    suppressed: dict[Pos, Suppressed]

    @property
    def has_grand_total(self) -> bool:
        return self.has_row_totals and self.has_col_totals

    def value(self, pos: Pos) -> int | None:
        """The count, or None when it is withheld."""
        return None if pos in self.suppressed else self.values[pos]

    def cell(self, row: int, col: int) -> int | None:
        return self.value((row, col))

    def row_total(self, row: int) -> int | None:
        return self.value((row, self.cols))

    def col_total(self, col: int) -> int | None:
        return self.value((self.rows, col))

    def grand_total(self) -> int | None:
        return self.value((self.rows, self.cols))

    def marker(self, pos: Pos) -> str | None:
        """What stands in for a withheld count: "<10" for a small one, "x" for the others."""
        kind = self.suppressed.get(pos)
        if kind is None:
            return None
        return f"<{self.threshold}" if kind is Suppressed.PRIMARY else "x"


class _Layout:
    """Which entries exist and which line equations are published."""

    def __init__(self, rows: int, cols: int, row_totals: bool, col_totals: bool) -> None:
        self.rows, self.cols = rows, cols
        self.row_totals, self.col_totals = row_totals, col_totals

    def positions(self) -> list[Pos]:
        found = [(i, j) for i in range(self.rows) for j in range(self.cols)]
        if self.row_totals:
            found += [(i, self.cols) for i in range(self.rows)]
        if self.col_totals:
            found += [(self.rows, j) for j in range(self.cols)]
        if self.row_totals and self.col_totals:
            found.append((self.rows, self.cols))
        return found

    def _row_vertex(self, i: int) -> Vertex:
        # Inner rows close on their row total; the row of column totals closes on the grand total.
        closes = self.row_totals if i < self.rows else self.row_totals and self.col_totals
        return ("row", i) if closes else GROUND

    def _col_vertex(self, j: int) -> Vertex:
        closes = self.col_totals if j < self.cols else self.row_totals and self.col_totals
        return ("col", j) if closes else GROUND

    def ends(self, pos: Pos) -> tuple[Vertex, Vertex]:
        return self._row_vertex(pos[0]), self._col_vertex(pos[1])


def bridges(edges: dict[Pos, tuple[Vertex, Vertex]]) -> list[Pos]:
    """The edges of a multigraph that lie on no cycle (Tarjan's low-link, by edge identity, so
    that parallel edges count as a cycle), sorted."""
    adjacent: dict[Vertex, list[tuple[Vertex, Pos]]] = {}
    for pos, (a, b) in edges.items():
        if a == b:
            continue  # a loop joins nothing to anything: never a bridge
        adjacent.setdefault(a, []).append((b, pos))
        adjacent.setdefault(b, []).append((a, pos))
    order: dict[Vertex, int] = {}
    low: dict[Vertex, int] = {}
    found: list[Pos] = []
    for root in adjacent:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        # Iterative depth-first search: (vertex, edge it was reached by, next neighbour index).
        stack: list[tuple[Vertex, Pos | None, int]] = [(root, None, 0)]
        while stack:
            vertex, via, index = stack[-1]
            neighbours = adjacent[vertex]
            if index < len(neighbours):
                stack[-1] = (vertex, via, index + 1)
                other, pos = neighbours[index]
                if pos == via:
                    continue
                if other in order:
                    low[vertex] = min(low[vertex], order[other])
                else:
                    order[other] = low[other] = len(order)
                    stack.append((other, pos, 0))
                continue
            stack.pop()
            if stack and via is not None:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[vertex])
                if low[vertex] > order[parent]:
                    found.append(via)
    return sorted(found)


def protect(
    cells: Sequence[Sequence[int]],
    threshold: int,
    *,
    row_totals: bool,
    col_totals: bool,
    locked: Collection[Pos] = (),
) -> Protected:
    """Suppress ``cells`` (and the totals the layout publishes) for display.

    ``locked``: positions shown in other tables too, never chosen for complementary suppression.
    Raises ProtectionError if the table cannot be protected without one (not for the shapes
    the dashboard uses: at least two categories on each side that has totals).
    """
    rows = len(cells)
    cols = len(cells[0]) if rows else 0
    if any(len(row) != cols for row in cells):
        raise ValueError("every row needs the same number of cells")
    if any(value < 0 for row in cells for value in row):
        raise ValueError("counts cannot be negative")
    layout = _Layout(rows, cols, row_totals, col_totals)
    values: dict[Pos, int] = {(i, j): cells[i][j] for i in range(rows) for j in range(cols)}
    for i in range(rows):
        values[(i, cols)] = sum(cells[i])
    for j in range(cols):
        values[(rows, j)] = sum(row[j] for row in cells)
    values[(rows, cols)] = sum(values[(i, cols)] for i in range(rows))
    positions = layout.positions()
    values = {pos: values[pos] for pos in positions}
    fixed = set(locked)
    if (rows, cols) in fixed:
        # A single row's total is the grand total (and likewise a single column's): lock it too.
        if rows == 1:
            fixed.add((0, cols))
        if cols == 1:
            fixed.add((rows, 0))
    suppressed = {pos: Suppressed.PRIMARY for pos in positions if values[pos] < threshold}
    ends = {pos: layout.ends(pos) for pos in positions}
    while True:
        found = bridges({pos: ends[pos] for pos in suppressed})
        if not found:
            break
        extra = _complement(found[0], suppressed, ends, values, fixed)
        if not extra:
            raise ProtectionError(
                "this table cannot hide its small counts without hiding a figure shown elsewhere"
            )
        for pos in extra:
            suppressed[pos] = Suppressed.COMPLEMENTARY
    return Protected(rows, cols, row_totals, col_totals, threshold, values, suppressed)


def _complement(
    bridge: Pos,
    suppressed: dict[Pos, Suppressed],
    ends: dict[Pos, tuple[Vertex, Vertex]],
    values: dict[Pos, int],
    fixed: set[Pos],
) -> list[Pos] | None:
    """The cheapest shown entries whose withholding puts ``bridge`` on a cycle: a shortest
    path between its two lines through the other entries, where a withheld entry costs nothing,
    a shown one its count (plus one, so that fewer entries win ties), and a locked one is
    impassable. None if there is no such path."""
    start, goal = ends[bridge]
    adjacent: dict[Vertex, list[tuple[Vertex, Pos]]] = {}
    for pos, (a, b) in ends.items():
        if pos == bridge or a == b or (pos in fixed and pos not in suppressed):
            continue
        adjacent.setdefault(a, []).append((b, pos))
        adjacent.setdefault(b, []).append((a, pos))
    best: dict[Vertex, int] = {start: 0}
    came: dict[Vertex, tuple[Vertex, Pos]] = {}
    queue: list[tuple[int, Vertex]] = [(0, start)]
    while queue:
        cost, vertex = heapq.heappop(queue)
        if vertex == goal:
            break
        if cost > best.get(vertex, cost):
            continue
        for other, pos in sorted(adjacent.get(vertex, ())):
            step = 0 if pos in suppressed else values[pos] + 1
            if cost + step < best.get(other, cost + step + 1):
                best[other] = cost + step
                came[other] = (vertex, pos)
                heapq.heappush(queue, (cost + step, other))
    if goal not in came:
        return None
    path: list[Pos] = []
    vertex = goal
    while vertex != start:
        vertex, pos = came[vertex]
        if pos not in suppressed:
            path.append(pos)
    return sorted(path)
