"""Every field of a config with its value and a line saying what it is, for `jaxfer config`.

The lines are the comments beside and above each field in the config files themselves
(configs/default.py and every config module the file derives from), so the listing cannot
drift from the files a user would otherwise read. Pure functions of source text and values.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import os
import re
import textwrap
import tokenize
from typing import Any, Iterator

import ml_collections

_CONFIGS_IMPORT = re.compile(r'^(?:from configs import ([\w, ]+)|import configs\.(\w+))', re.M)


@dataclasses.dataclass(frozen=True)
class Field:
  name: str  # Dotted, without 'config.': 'student.width'.
  value: Any
  default: Any  # Its value in the base config (configs/default.py and the search settings).
  description: str  # '' when no file says.


def _comments(source: str) -> dict[int, str]:
  """{line number: comment text without '#'} of every comment in `source`."""
  found = {}
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.COMMENT:
      found[token.start[0]] = token.string.lstrip('#').strip()
  return found


def _comment_at(line: int, lines: list[str], comments: dict[int, str]) -> str:
  """The comment beside line `line`, else the block of comment lines right above it."""
  if line in comments and not lines[line - 1].lstrip().startswith('#'):
    return _clean(comments[line])
  block, above = [], line - 1
  while above >= 1 and lines[above - 1].lstrip().startswith('#'):
    block.insert(0, comments.get(above, ''))
    above -= 1
  return _clean(' '.join(block))


def _clean(comment: str) -> str:
  # pylint-style pragmas say nothing to a user.
  return ' '.join(re.sub(r'pylint:.*$', '', comment).split())


def _dotted(node: ast.AST) -> str | None:
  """'a.b' for the expression config.a.b, else None."""
  parts = []
  while isinstance(node, ast.Attribute):
    parts.insert(0, node.attr)
    node = node.value
  return '.'.join(parts) if isinstance(node, ast.Name) and node.id == 'config' else None


def _dict_keywords(node: ast.AST, functions: dict[str, ast.AST]) -> Iterator[ast.keyword]:
  """The keywords of the dict(...) a value builds: dict(...), ConfigDict(dict(...)), or a call
  of a function of the same file returning one."""
  if not isinstance(node, ast.Call):
    return
  name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, 'attr', '')
  if name == 'dict':
    yield from (keyword for keyword in node.keywords if keyword.arg)
  elif name == 'ConfigDict' and node.args:
    yield from _dict_keywords(node.args[0], functions)
  elif name in functions:
    yield from _dict_keywords(functions[name], functions)


def descriptions(source: str) -> dict[str, str]:
  """{dotted field: its comment, or ''} for every field that `source` (a config file) sets:
  plain assignments, fields of dict(...) values, and `.update(...)` keywords."""
  lines, comments = source.splitlines(), _comments(source)
  tree = ast.parse(source)
  # Helpers such as `optimizer(...)` and `search_settings()`: what they return, and the first
  # line of their docstring, which describes the section they build.
  functions, helper_docs = {}, {}
  for node in ast.walk(tree):
    if isinstance(node, ast.FunctionDef) and node.name != 'get_config':
      returned = [n.value for n in ast.walk(node) if isinstance(n, ast.Return) and n.value]
      if returned:
        functions[node.name] = returned[0]
        helper_docs[node.name] = _clean((ast.get_docstring(node) or '').split('\n')[0])
  found = {}

  def visit_dict(prefix: str, value: ast.AST) -> None:
    for keyword in _dict_keywords(value, functions):
      name = f'{prefix}.{keyword.arg}'
      found.setdefault(name, _comment_at(keyword.value.lineno, lines, comments))
      visit_dict(name, keyword.value)

  for node in ast.walk(tree):
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
      name = _dotted(node.targets[0])
      if name:
        comment = _comment_at(node.lineno, lines, comments)
        if not comment and isinstance(node.value, ast.Call):
          comment = helper_docs.get(getattr(node.value.func, 'id', ''), '')
        found.setdefault(name, comment)
        visit_dict(name, node.value)
    elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
          and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == 'update'):
      prefix = _dotted(node.value.func.value)
      if prefix is not None:
        comment = _comment_at(node.lineno, lines, comments)
        for keyword in node.value.keywords:
          if keyword.arg:
            name = f'{prefix}.{keyword.arg}' if prefix else keyword.arg
            own = (_comment_at(keyword.value.lineno, lines, comments)
                   if keyword.value.lineno != node.lineno else '')
            found.setdefault(name, own or comment)
  return found


def config_sources(path: str) -> list[str]:
  """`path` and the config modules it derives from (configs/X.py it imports, transitively), the
  most basic first: configs/default.py before the search settings before `path`."""
  root = os.path.dirname(os.path.abspath(path))
  ordered, seen = [], set()

  def add(file: str) -> None:
    file = os.path.abspath(file)
    if file in seen or not os.path.isfile(file):
      return
    seen.add(file)
    with open(file) as f:
      source = f.read()
    for match in _CONFIGS_IMPORT.finditer(source):
      for name in (match.group(1) or match.group(2)).split(','):
        add(os.path.join(root, f'{name.strip()}.py'))
    ordered.append(file)

  add(path)
  return ordered


def flatten(config: ml_collections.ConfigDict, prefix: str = '') -> dict[str, Any]:
  """{dotted name: value} of every leaf field of `config`, in the config's order."""
  leaves = {}
  for key, value in config.items():
    name = f'{prefix}{key}'
    if isinstance(value, ml_collections.ConfigDict):
      leaves.update(flatten(value, f'{name}.'))
    else:
      leaves[name] = value
  return leaves


def fields(config: ml_collections.ConfigDict, base: ml_collections.ConfigDict,
           sources: dict[str, str]) -> list[Field]:
  """Every leaf of `config` with its `base` value and its description: the comment of the
  most basic file of `sources` ({file: text}) that sets it (a derived file's comment on a value it
  changes says why, not what the field is) or, without one, of its nearest section."""
  described = {}
  for text in sources.values():
    for name, comment in descriptions(text).items():
      described.setdefault(name, comment)
  base_values = flatten(base)
  listed = []
  for name, value in flatten(config).items():
    section, description = name, ''
    while section and not description:
      description = described.get(section, '')
      section = section.rpartition('.')[0]
    listed.append(Field(name, value, base_values.get(name, _ABSENT), description))
  return listed


class _Absent:
  def __repr__(self):
    return 'not in the default'


_ABSENT = _Absent()


def render(listed: list[Field], width: int = 100) -> str:
  """One line per field, `name = value` (and its default where it differs), then its
  description indented below, wrapped at `width`."""
  out = []
  for field in listed:
    line = f'{field.name} = {field.value!r}'
    if field.default is _ABSENT or field.default != field.value:
      line += f'   (default: {field.default!r})'
    out.append(line)
    if field.description:
      out.extend(textwrap.wrap(field.description, width, initial_indent='    ',
                               subsequent_indent='    '))
  return '\n'.join(out)
