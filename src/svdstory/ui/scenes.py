"""The scenes table's edits: rows are [scene, seed]; a blank seed is the base seed + the row's index."""
from __future__ import annotations


def rows(table) -> list[list]:
    """The table as a list of [scene, seed] rows, whatever shape the control gave it."""
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):  # a pandas frame
        table = table.values.tolist()
    return [(list(row) + [None, None])[:2] for row in table]


def add(table, scenes: str, seed=None) -> list[list]:
    """Append each non-empty line of `scenes` as a row."""
    new = [[line.strip(), seed] for line in (scenes or "").splitlines() if line.strip()]
    return rows(table) + new


def move(table, index: int | None, by: int) -> tuple[list[list], int | None]:
    """Move row `index` up (by=-1) or down (by=1); returns the table and the row's new index."""
    table = rows(table)
    if index is None or not 0 <= index < len(table) or not 0 <= index + by < len(table):
        return table, index
    table[index], table[index + by] = table[index + by], table[index]
    return table, index + by


def remove(table, index: int | None) -> tuple[list[list], int | None]:
    """Drop row `index`; the selection moves to the row now in its place (or the last row)."""
    table = rows(table)
    if index is None or not 0 <= index < len(table):
        return table, index
    del table[index]
    return table, min(index, len(table) - 1) if table else None
