"""`python -m pyconvert ...` is the same as the `pyconvert` command."""

from .cli import main

raise SystemExit(main())
