"""The import graph of jaxfer/ and search/, read from the source: no cycles, and dependencies
that point one way (search -> jaxfer, never back; the data layer without JAX; the models
without the data layer).

Every import counts, at module level or inside a function: a lazy import that closes a cycle is
a cycle all the same, only one that shows later.
"""
import ast
import os

from conftest import REPO

PACKAGES = ('jaxfer', 'search')


def _module_names(root: str) -> dict[str, str]:
  """{dotted module name: file} of every module of the packages."""
  found = {}
  for package in PACKAGES:
    for folder, _, files in os.walk(os.path.join(root, package)):
      for name in files:
        if name.endswith('.py'):
          parts = os.path.relpath(os.path.join(folder, name), root)[:-3].split(os.sep)
          if parts[-1] == '__init__':
            parts = parts[:-1]
          found['.'.join(parts)] = os.path.join(folder, name)
  return found


def _imported(path: str, module: str, modules) -> set[str]:
  """Every dotted name `path` imports, anywhere in it. `from a import b` imports the module a.b
  when there is one (its package's __init__ has run before, not been asked for), else a."""
  names = set()
  for node in ast.walk(ast.parse(open(path).read(), path)):
    if isinstance(node, ast.Import):
      names |= {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # Relative: resolved against this module's package.
        package = module.split('.')
        package = package[:len(package) - node.level + path.endswith('__init__.py')]
        base = '.'.join(package + ([base] if base else []))
      names |= {f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base
                for alias in node.names}
  return names


def import_graph(root: str) -> dict[str, set[str]]:
  """{module: the modules of the packages it imports} for the packages under `root`."""
  modules = _module_names(root)
  return {module: {name for name in _imported(path, module, modules)
                   if name in modules and name != module}
          for module, path in modules.items()}


def external_imports(root: str, module: str) -> set[str]:
  """The top-level names of what `module` imports from outside the packages."""
  modules = _module_names(root)
  return {name.split('.')[0] for name in _imported(modules[module], module, modules)
          if name and name.split('.')[0] not in PACKAGES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components of more than one module (Tarjan), each sorted."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for successor in sorted(graph[node]):
      if successor not in index:
        visit(successor)
        low[node] = min(low[node], low[successor])
      elif successor in on_stack:
        low[node] = min(low[node], index[successor])
    if low[node] == index[node]:
      component = []
      while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import(tmp_path):
  (tmp_path / 'jaxfer').mkdir()
  (tmp_path / 'search').mkdir()
  (tmp_path / 'jaxfer' / '__init__.py').write_text('')
  (tmp_path / 'search' / '__init__.py').write_text('')
  (tmp_path / 'jaxfer' / 'checks.py').write_text(
      'def validate():\n  from jaxfer import face  # Lazily.\n')
  (tmp_path / 'jaxfer' / 'face.py').write_text('from jaxfer import checks\n')
  (tmp_path / 'jaxfer' / 'leaf.py').write_text('import numpy\nfrom jaxfer import face\n')
  graph = import_graph(str(tmp_path))
  assert graph['jaxfer.leaf'] == {'jaxfer.face'}
  assert cycles(graph) == [['jaxfer.checks', 'jaxfer.face']]


def test_jaxfer_and_search_import_each_other_in_no_cycle():
  graph = import_graph(REPO)
  assert len(graph) > 60 and 'jaxfer.train' in graph['search.objective']
  assert cycles(graph) == []


def test_jaxfer_never_imports_the_search_engine():
  graph = import_graph(REPO)
  assert {module: sorted(n for n in names if n.startswith('search'))
          for module, names in graph.items()
          if module.startswith('jaxfer.') and any(n.startswith('search') for n in names)} == {}


def test_the_python_api_facade_sits_above_both_packages_and_nothing_imports_it():
  graph = import_graph(REPO)
  # `import jaxfer` is the Python API: it reaches into the search engine for studies...
  assert {'search.storage', 'search.pareto', 'jaxfer.train'} <= graph['jaxfer']
  # ...so no module of either package may import it, or `search -> jaxfer` would loop back.
  assert sorted(module for module, names in graph.items() if 'jaxfer' in names) == []


def test_the_data_layer_imports_no_jax_and_the_models_no_data_code():
  graph = import_graph(REPO)
  data = [module for module in graph if module.startswith('jaxfer.data')]
  assert len(data) >= 10
  assert {module: sorted(external_imports(REPO, module) & {'jax', 'flax', 'optax', 'orbax'})
          for module in data if external_imports(REPO, module) & {'jax', 'flax', 'optax',
                                                                   'orbax'}} == {}
  assert {module: sorted(n for n in names if n.startswith('jaxfer.data'))
          for module, names in graph.items() if module.startswith('jaxfer.models')
          and any(n.startswith('jaxfer.data') for n in names)} == {}


def test_checking_a_config_loads_no_training_code():
  graph = import_graph(REPO)
  reached, todo = set(), ['jaxfer.configuration']
  while todo:
    module = todo.pop()
    if module not in reached:
      reached.add(module)
      todo += graph[module]
  assert not reached & {'jaxfer.loop', 'jaxfer.train', 'jaxfer.teacher', 'jaxfer.facenet2expnet',
                        'jaxfer.checkpoints'}, sorted(reached)
