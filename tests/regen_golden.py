"""Regenerate tests/golden/ after an intended change to the emitted C:

    python tests/regen_golden.py && git diff tests/golden
"""

from pathlib import Path

from pyconvert.convert import load, lower_graph
from pyconvert.emit_c import emit

GOLDEN = Path(__file__).parent / "golden"

if __name__ == "__main__":
    header, source = emit(lower_graph(load("logic_mlp")), "logic_mlp",
                          command="pyconvert convert logic_mlp -o out", source="logic_mlp")
    (GOLDEN / "logic_mlp.h").write_text(header)
    (GOLDEN / "logic_mlp.c").write_text(source)
    print(f"wrote {GOLDEN}/logic_mlp.h and logic_mlp.c")
