"""YAML text -> plain Python values that remember their line numbers.

:func:`parse` composes the YAML (``yaml.compose``, safe tags only) and converts
the node tree into ordinary values: mappings become :class:`Map` (a ``dict``),
sequences :class:`Seq` (a ``list``), scalars stay ``int``/``float``/``str``/
``bool``/``None``. ``Map.key_lines[key]`` is the 1-based line of each key and
``Seq.item_lines[i]`` the line of each item, so the loader can point at the
exact line of any value it rejects.

Duplicate keys are an error (PyYAML silently keeps the last one); anchors,
aliases and ``<<`` merge keys work as usual. YAML syntax errors become
:class:`~hwgen.spec.errors.SpecError` with the line PyYAML reported.

Two limits keep hostile files cheap to reject: nesting deeper than
:data:`MAX_DEPTH` (PyYAML composes recursively, so a file of 20,000 ``[``
would end in a RecursionError) and more than :data:`MAX_VALUES` values once
aliases are expanded (a "billion laughs" file of nine aliases of nine aliases
would otherwise expand to 9**9 values). A network needs a few hundred values
at most.
"""

from __future__ import annotations

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import SpecError

__all__ = ["Map", "Seq", "parse", "line_of"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
#: deepest nesting of lists/mappings accepted (a network needs about 4)
MAX_DEPTH = 64
#: most values (scalars, lists, mappings) accepted after expanding aliases
MAX_VALUES = 100_000


class Map(dict):
    """A YAML mapping. ``line``: where it starts; ``key_lines``: line of each key."""

    def __init__(self, line: int | None = None):
        super().__init__()
        self.line = line
        self.key_lines: dict = {}


class Seq(list):
    """A YAML sequence. ``line``: where it starts; ``item_lines``: line of each item."""

    def __init__(self, line: int | None = None):
        super().__init__()
        self.line = line
        self.item_lines: list = []


def line_of(container, key, default=None):
    """Line of ``container[key]`` (a key of a Map or an index of a Seq)."""
    if isinstance(container, Map):
        return container.key_lines.get(key, container.line if default is None else default)
    if isinstance(container, Seq):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line if default is None else default
    return default


def _line(node) -> int:
    return node.start_mark.line + 1


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.constructor = SafeConstructor()
        self.active: set = set()
        self.values = 0

    def count(self, node, path):
        """Count one more value; refuse alias expansions beyond MAX_VALUES and MAX_DEPTH."""
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.error(node, path, f"more than {MAX_VALUES} values once aliases are "
                             "expanded (a 'billion laughs' alias bomb?)",
                             "write the network without nested aliases")
        if len(self.active) > MAX_DEPTH:
            raise self.error(node, path, f"values nested more than {MAX_DEPTH} deep "
                             "(through aliases)", "a network is a few levels deep")

    def error(self, node, path, message, hint=None):
        return SpecError(message, file=self.file, line=_line(node), path=path, hint=hint)

    def scalar(self, node, path):
        try:
            return self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            raise self.error(node, path, f"cannot read this value: {exc.problem}",
                             "hwgen networks use plain YAML scalars, lists and mappings only") from None

    def convert(self, node, path: str):
        self.count(node, path)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise self.error(node, path, "recursive alias: this value contains itself")
        if node.tag not in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
            raise self.error(node, path, f"unsupported YAML tag {node.tag!r}",
                             "remove the tag; hwgen networks use plain YAML only")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self.sequence(node, path)
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            raise self.error(node, path, f"unsupported YAML node {type(node).__name__}")
        finally:
            self.active.discard(id(node))

    def sequence(self, node, path):
        seq = Seq(_line(node))
        for index, item in enumerate(node.value):
            seq.append(self.convert(item, _join(path, index)))
            seq.item_lines.append(_line(item))
        return seq

    def key(self, key_node, path):
        if not isinstance(key_node, ScalarNode):
            raise self.error(key_node, path, "a mapping key must be a plain name, not a list or mapping")
        key = self.scalar(key_node, path)
        if not isinstance(key, (str, int, bool, float)) and key is not None:
            raise self.error(key_node, path, f"a mapping key must be a plain name, not {key!r}")
        return key

    def mapping(self, node, path):
        # Duplicate keys among the keys written in this mapping (merged keys may be overridden).
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.key(key_node, path)
            if key in seen:
                raise self.error(key_node, _join(path, key),
                                 f"duplicate key {key!r} (first given on line {seen[key]})",
                                 "give each key once; YAML would silently keep only the last one")
            seen[key] = _line(key_node)
        try:
            self.constructor.flatten_mapping(node)
        except ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            raise SpecError(f"bad merge key: {exc.problem}", file=self.file,
                            line=mark.line + 1, path=path) from None
        result = Map(_line(node))
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            result.pop(key, None)        # a later (explicit) key overrides a merged one
            result[key] = self.convert(value_node, _join(path, key))
            result.key_lines[key] = _line(key_node)
        return result


def parse(text: str, file: str = "<string>"):
    """Parse one YAML document into Map/Seq/scalars with line numbers; None if empty."""
    try:
        _check_depth(text, file)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(text, str) else None
        raise SpecError(f"invalid YAML: character {chr(exc.character)!r} is not allowed "
                        f"in a YAML file ({exc.reason})", file=file, line=line,
                        hint="the file must be text; remove control characters") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context and "single document" in exc.context:
            problem = "more than one YAML document (a second '---'); a network is one document"
        elif exc.context:
            problem = f"{problem} ({exc.context}" + (
                f" starting on line {exc.context_mark.line + 1})" if exc.context_mark else ")")
        hint = None
        if "\\t" in str(problem) or "tab" in str(problem):
            hint = "indent with spaces; YAML does not allow tabs"
        raise SpecError(f"invalid YAML: {problem}", file=file,
                        line=None if mark is None else mark.line + 1, hint=hint) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", file=file) from None
    if node is None:
        return None
    return _Converter(file).convert(node, "")


def _check_depth(text, file):
    """SpecError at the first list/mapping nested deeper than MAX_DEPTH.

    Runs on PyYAML's event stream, which is produced without recursion, so
    it fails cleanly where composing would exhaust Python's stack.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"lists/mappings nested more than {MAX_DEPTH} deep",
                                file=file, line=event.start_mark.line + 1,
                                hint="a network is a few levels deep; is the file generated "
                                     "by mistake?")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
