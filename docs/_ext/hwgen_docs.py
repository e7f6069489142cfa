"""Sphinx directives that put generated text into the docs.

``yaml-reference``
    the YAML reference, from the schema the loader checks (``docs/gen_yaml_reference.py``);
``cli-reference``
    every command of ``hwgen.cli._parser()``: description, usage, each argument with its
    help, default and choices, and the examples, as plain text (the help is written for a
    terminal, so none of it is parsed as markup);
``auto-fold NET BUDGET...``
    the folds ``--fold auto`` chooses for NET at each budget, computed by ``hwgen.plan``
    during the build (``docs/gen_plan.py``), with the minimum budget first;
``results NAME``
    one benchmark table from ``benchmarks/results/*.json`` with the command that measured
    it and the machine (``docs/gen_results.py``; NAME is a key of its ``RESULTS``).

Both produce MyST Markdown, parsed in place, so their headings and tables are ordinary
parts of the page (in the table of contents, linkable).
"""

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

import argparse

import gen_plan
import gen_results
import gen_yaml_reference


class _Generated(SphinxDirective):
    """Parse generated Markdown in place of the directive."""

    def generated(self) -> str:
        raise NotImplementedError

    def run(self):
        container = nodes.container()
        lines = StringList(self.generated().splitlines(), source=self.get_source_info()[0])
        self.state.nested_parse(lines, self.content_offset, container, match_titles=True)
        return container.children


class YamlReference(_Generated):
    def generated(self):
        self.env.note_dependency(gen_yaml_reference.__file__)
        return gen_yaml_reference.render()


class Results(_Generated):
    required_arguments = 1

    def generated(self):
        name = self.arguments[0]
        if name not in gen_results.RESULTS:
            raise self.error(f"unknown results table {name!r}; known: "
                             f"{', '.join(gen_results.RESULTS)}")
        stem = gen_results.RESULTS[name].stem
        self.env.note_dependency(str(gen_results.RESULTS_DIR / f"{stem}.json"))
        return gen_results.render(name)


class AutoFold(_Generated):
    required_arguments = 2
    optional_arguments = 8

    def generated(self):
        net, *budgets = self.arguments
        return gen_plan.auto_fold_table(net, [int(b) for b in budgets]) + \
            f"\nComputed while these docs were built: `hwgen report {net} --fold auto " \
            f"--max-lut N` for each budget N.\n"


def _parser():
    """The argument parser the CLI reference documents (one place to re-point)."""
    from hwgen.cli import _parser
    return _parser()


def _split_epilog(parser):
    """(text before "examples:", [example lines]) of a parser's epilog."""
    epilog = parser.epilog or ""
    head, _, tail = epilog.partition("examples:\n")
    examples, rest = [], []
    for line in tail.splitlines():
        (examples if line.startswith("  ") else rest).append(line.strip())
    return (head + "\n".join(rest)).strip(), [e for e in examples if e]


def _usage(parser):
    return parser.format_usage().removeprefix("usage: ").strip()


def _paragraphs(text):
    return [nodes.paragraph(text=" ".join(block.split())) for block in text.split("\n\n")
            if block.strip()]


def _arguments(parser):
    items = nodes.definition_list()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(action.option_strings) or action.metavar or action.dest
        if action.option_strings and action.nargs != 0:
            names += f" {action.metavar or action.dest.upper()}"
        facts = [" ".join((action.help or "").split())]
        if action.choices and not isinstance(action.choices, dict):
            facts.append("choices: " + ", ".join(map(str, action.choices)))
        if action.required and action.option_strings:
            facts.append("required")
        term = nodes.term("", "", nodes.literal(text=names))
        items += nodes.definition_list_item("", term, nodes.definition(
            "", nodes.paragraph(text="; ".join(f for f in facts if f) + ".")))
    return items


class CliReference(SphinxDirective):
    def _section(self, title, parser, anchor):
        section = nodes.section(ids=[anchor], names=[anchor])
        section += nodes.title(text=title)
        section += _paragraphs(parser.description or "")
        section += nodes.literal_block(text=_usage(parser), language="none")
        section += _arguments(parser)
        note, examples = _split_epilog(parser)
        if examples:
            section += nodes.paragraph(text="Examples:")
            section += nodes.literal_block(text="\n".join(examples), language="console")
        section += _paragraphs(note)
        self.state.document.note_implicit_target(section)
        return section

    def run(self):
        self.env.note_dependency(__import__("hwgen.cli").cli.__file__)
        parser = _parser()
        sections = [self._section("hwgen", parser, "cmd-hwgen")]
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, child in sub.choices.items():
            sections.append(self._section(f"hwgen {name}", child, f"cmd-{name}"))
        return sections


def setup(app):
    app.add_directive("yaml-reference", YamlReference)
    app.add_directive("results", Results)
    app.add_directive("cli-reference", CliReference)
    app.add_directive("auto-fold", AutoFold)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
