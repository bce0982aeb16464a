"""Arena planning: place every activation buffer at a fixed offset, offline.

Input: a schedule of steps, each reading some buffers and writing one. A buffer is
live from the step that writes it to the last step that reads it (the graph input
from before step 0, graph outputs to the end). Two buffers whose lifetimes overlap
may not overlap in memory. Placement is greedy by size (largest first, each at the
lowest offset that fits beside the already placed buffers it conflicts with), the
classic heuristic of TFLite's planner, which is optimal or close for chains.

In-place and views are decided before planning (see lower.py): they make several
tensors share one buffer, so the planner sees only buffers.

The lower bound reported beside the arena is max over steps of the bytes live at
that step: no placement of this schedule can use less.
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4  # bytes; every buffer starts on a word boundary


def align_up(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass
class Buffer:
    name: str
    size: int          # bytes
    first: int         # step that writes it (-1: written before the schedule runs)
    last: int          # last step that reads it (n_steps: read after the schedule)
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class Plan:
    buffers: list
    arena_size: int
    lower_bound: int

    def offset(self, name: str) -> int:
        return next(b.offset for b in self.buffers if b.name == name)


def plan_arena(buffers: list) -> Plan:
    """Assign offsets to buffers (in place) and return the plan.

    Deterministic: ties in size are broken by first use, then by name."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list = []
    for buf in order:
        busy = sorted((p.offset, p.offset + align_up(p.size)) for p in placed
                      if p.overlaps_in_time(buf))
        offset = 0
        for start, end in busy:
            if offset + buf.size <= start:
                break            # fits in the gap before this neighbour
            offset = max(offset, align_up(end))
        buf.offset = offset
        placed.append(buf)
    arena = max((align_up(b.offset + b.size) for b in buffers), default=0)
    return Plan(buffers=buffers, arena_size=arena, lower_bound=lower_bound(buffers))


def lower_bound(buffers: list) -> int:
    """max over steps of the (aligned) bytes live at that step."""
    if not buffers:
        return 0
    steps = range(min(b.first for b in buffers), max(b.last for b in buffers) + 1)
    return max(sum(align_up(b.size) for b in buffers if b.first <= s <= b.last) for s in steps)


def describe(plan: Plan) -> str:
    """The plan as a table (also written into the generated C as a comment)."""
    rows = [f"{'buffer':<24} {'offset':>8} {'bytes':>8}  live steps"]
    for b in sorted(plan.buffers, key=lambda b: (b.offset, b.name)):
        rows.append(f"{b.name:<24} {b.offset:>8} {b.size:>8}  {b.first}..{b.last}")
    rows.append(f"arena {plan.arena_size} bytes; lower bound for this schedule {plan.lower_bound} bytes")
    return "\n".join(rows)
