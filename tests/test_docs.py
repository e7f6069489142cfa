"""The user's manual: it builds with warnings as errors, and what it generates is complete.

The Sphinx build is the one CI runs (``python -m sphinx -W -b html docs OUT``);
the other tests check the generated pages against the sources they are
generated from (the schema, the argument parser, ``benchmarks/results``).
"""

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import gen_results  # noqa: E402
import gen_yaml_reference  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                          str(DOCS), str(out)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, f"sphinx -W failed:\n{run.stdout}\n{run.stderr}"
    return out


def _anchor(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _section(page, anchor):
    """The HTML of section ``anchor`` up to the next section (nested or not)."""
    start = page.index(f'<section id="{anchor}">')
    end = page.find("<section", start + 1)
    return page[start:end if end > 0 else len(page)]


def _body_rows(html):
    return len(re.findall(r"<tr", html.split("<tbody>", 1)[1])) if "<tbody>" in html else 0


def test_docs_build_with_warnings_as_errors(site):
    for page in ("index", "getting-started", "tutorial", "reference/yaml", "reference/cli",
                 "design/index", "results/index", "contributing"):
        assert (site / f"{page}.html").is_file(), page


def test_yaml_reference_lists_every_op_and_key(site):
    tables = gen_yaml_reference.schema_tables()
    page = (site / "reference" / "yaml.html").read_text()
    assert len(tables.ops) >= 14
    for op in tables.ops:
        section = _section(page, _anchor(op.name))
        assert _body_rows(section) == len(op.fields), op.name
        for field in op.fields:
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{field.name}" \
                   f"</span></code>" in section, (op.name, field.name)
    for anchor, keys in (("top-level", tables.top_keys), ("every-layer", tables.layer_keys),
                         ("input", [f.name for f in tables.input_fields]),
                         ("target", [f.name for f in tables.target_fields])):
        assert _body_rows(_section(page, anchor)) == len(keys), anchor
    total = sum(len(op.fields) for op in tables.ops)
    assert total == sum(_body_rows(_section(page, _anchor(op.name))) for op in tables.ops)


def test_the_reference_notes_cover_exactly_the_schema():
    tables = gen_yaml_reference.schema_tables()
    assert set(gen_yaml_reference.TOP_NOTES) == set(tables.top_keys)
    assert set(gen_yaml_reference.LAYER_NOTES) == set(tables.layer_keys)
    assert set(gen_yaml_reference.OP_NOTES) == {op.name for op in tables.ops}
    for op in tables.ops:
        for field in op.fields:
            assert field.doc, f"{op.name}.{field.name} has no doc in the schema"


def test_cli_reference_documents_every_command_and_argument(site):
    from hwgen.cli import _parser
    page = html.unescape((site / "reference" / "cli.html").read_text())
    parser = _parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, child in sub.choices.items():
        section = page[page.index(f'<section id="cmd-{name}">'):]
        for action in child._actions:
            if action.help == "show this help message and exit":
                continue
            assert action.help, f"hwgen {name}: {action.dest} has no help"
            assert " ".join(action.help.split())[:40] in section, (name, action.dest)
        assert child.description and "examples:" in child.epilog, name


def test_help_teaches_without_markup(capsys):
    from hwgen.cli import main
    from hwgen import __version__
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"hwgen {__version__}"
    for argv in (["--help"], ["sim", "--help"], ["synth", "--help"], ["generate", "--help"],
                 ["reference", "--help"], ["report", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert "examples:" in out and "``" not in out and ":data:" not in out, argv


def test_every_result_file_has_a_table_in_the_docs():
    used = {r.stem for r in gen_results.RESULTS.values()}
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        assert path.stem in used, (
            f"{path.relative_to(ROOT)} has no table in the docs: add a renderer to "
            f"docs/gen_results.py RESULTS and a results block on its page")
    pages = "".join(p.read_text() for p in DOCS.rglob("*.md"))
    shown = set(re.findall(r"```\{results\} (\w+)", pages))
    assert shown == set(gen_results.RESULTS), set(gen_results.RESULTS) ^ shown


def test_readme_is_short_and_its_headline_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert gen_results.readme_block() in readme, \
        "README headline table differs from benchmarks/results: python docs/gen_results.py --readme"


def test_nothing_points_outside_the_repository():
    for path in ROOT.rglob("*"):
        if path.suffix not in (".py", ".md") or any(
                part.startswith(".") or part in ("_build", "rtl_out") for part in
                path.relative_to(ROOT).parts):
            continue
        assert "shared" + "/" not in path.read_text(errors="replace"), path


def test_the_tutorial_network_loads_and_is_the_one_the_readme_shows():
    from hwgen.spec import load
    path = DOCS / "tutorial" / "my_bnn.yaml"
    spec = load(path)
    assert [layer.name for layer in spec.layers] == ["fc1", "fc2", "top1"]
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    assert shown == path.read_text()
    assert len(shown.splitlines()) <= 10
