"""Board support: a converted model as Cortex-M firmware, run on QEMU-emulated boards.

- ``profiles``: the boards (core flags, memory budgets, QEMU machine);
- ``firmware``: the self-contained firmware project, its cached build and fit check;
- ``qemu``: run an ELF on a board with host files through semihosting, counting
  instructions with the TCG plugin in ``plugin/``;
- ``runner``: ``BoardModel(outdir, board).run(x)`` like the host runner, and ``bench``.

C and linker sources: ``src/`` (startup, board support, the main.c template) and
``ld/`` (one script per board). See docs/design.md, section 7.
"""
