"""Sphinx configuration: ``python -m sphinx -W -b html docs OUT`` (tests/test_docs.py runs it)."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS), str(DOCS / "_ext"), str(DOCS.parent)]

import hwgen  # noqa: E402

project = "hwgen"
author = "the hwgen authors"
release = version = hwgen.__version__
extensions = ["myst_parser", "hwgen_docs"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
html_theme = "furo"
html_title = f"hwgen {release}"
smartquotes = False  # help text and commands keep their "--"
