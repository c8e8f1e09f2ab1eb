"""Reading user files: UTF-8 text only, and YAML that cannot blow up or hide a repeated key.

PyYAML's safe loader still expands aliases without limit (a few lines of nested aliases, the
"billion laughs", become gigabytes once validated), accepts a repeated key (the last one wins
silently) and lets a few errors out as plain exceptions. Every config and catalog is loaded here.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from skillmix.errors import SkillmixError, yaml_syntax_error

MAX_ALIASES = 100  # alias uses (*name) in one file
MAX_ALIAS_GROWTH = 10_000  # nodes that alias expansion may add to a file's own nodes
MERGE_TAG = "tag:yaml.org,2002:merge"


class NotText(ValueError):
    """Bytes that are not UTF-8 text; the message says where."""


def decode_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    if "\0" in text:
        raise NotText(f"a binary file, not text (NUL character at offset {text.index(chr(0))})")
    return text


@contextlib.contextmanager
def long_csv_cells(text: str) -> Iterator[None]:
    """csv's cell limit (128 KiB, process-wide) raised to the text's length while it is read."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, len(text)))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_text(path: Path) -> str:
    """A file's text; anything that is not UTF-8 text is bad input naming the file."""
    try:
        return decode_text(path.read_bytes())
    except OSError as exc:
        raise SkillmixError(f"cannot read ({exc.strerror or exc})", file=path) from None
    except NotText as exc:
        raise SkillmixError(str(exc), file=path) from None


class _Refused(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


class _Loader(yaml.SafeLoader):
    """The safe loader, counting alias uses and refusing a key given twice in one mapping."""

    def __init__(self, text: str):
        super().__init__(text)
        self.aliases = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise _Refused(f"more than {MAX_ALIASES} YAML aliases", line)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):  # PyYAML itself refuses anything else
            _refuse_repeated_keys(self, node)
        return super().construct_mapping(node, deep)


def _refuse_repeated_keys(loader: _Loader, node: MappingNode) -> None:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue  # merged keys may be overridden: that is what a merge is for
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            earlier = first_line.get(key)
        except TypeError:
            continue  # an unhashable key: the constructor itself refuses it
        if earlier is not None:
            raise _Refused(f"duplicate key {key!r} (first on line {earlier})", line)
        first_line[key] = line


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_size(node: Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Nodes under `node` with every alias expanded (memoised: the graph is walked once)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise _Refused("a YAML alias refers to a node that contains it", node.start_mark.line + 1)
    open_nodes.add(id(node))
    size = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in _children(node))
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size


def _check_expansion(root: Node) -> None:
    sizes: dict[int, int] = {}
    expanded = _expanded_size(root, sizes, set())
    if expanded - len(sizes) > MAX_ALIAS_GROWTH:
        raise _Refused(
            f"YAML aliases expand to {expanded} nodes from {len(sizes)} written "
            f"(at most {MAX_ALIAS_GROWTH} more allowed)",
            root.start_mark.line + 1,
        )


def compose_yaml(path: Path) -> tuple[Any, Node | None]:
    """A YAML file's data and its node tree (for line numbers); one line of error otherwise."""
    loader = _Loader(read_text(path))
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise yaml_syntax_error(exc, path) from None
    except _Refused as exc:
        raise SkillmixError(str(exc), file=path, field=f"line {exc.line}") from None
    except RecursionError:
        raise SkillmixError("YAML nested too deeply", file=path) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        reason = str(exc).split(":")[0]
        raise SkillmixError(f"unreadable YAML value: {reason}", file=path) from None
    finally:
        loader.dispose()


def load_yaml(path: Path) -> Any:
    return compose_yaml(path)[0]
