"""The plugin's modules import one another without cycles, and no import inside a function hides one.

Read from the source (ast), so the test sees every import, however deep: the graph of the
package's module-level imports must be acyclic, and an import of a package module inside a
function is allowed only where it is not about a cycle (listed below, with the reason).
"""

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = "translations_taskgraph"
PACKAGE_DIR = ROOT / PACKAGE

# (module, function): why the import waits until the call.
DEFERRED_FOR_A_REASON = {
    # Importing the package (e.g. for its CLI) must not register taskgraph hooks; register() does.
    (PACKAGE, "register"): "registration happens when taskgraph calls register()",
    # Importing verifications registers a verification with taskgraph; only `diff` needs it.
    (f"{PACKAGE}.cli.diff", "task_facts"): "registers a verification",
}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(module, node, is_package):
    """The package modules an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith(PACKAGE)]
    base = module if is_package else module.rsplit(".", 1)[0]
    for _ in range(max(node.level - 1, 0)):
        base = base.rsplit(".", 1)[0]
    target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
    if not target.startswith(PACKAGE):
        return []
    names = [f"{target}.{alias.name}" for alias in node.names]
    return [name for name in names if _exists(name)] or [target]


def _exists(module):
    path = ROOT / Path(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports():
    """{module: set of package modules imported at module level}, [(module, function, imported)]."""
    top, deferred = {}, []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        top[module] = set()

        def visit(node, function=None, module=module, path=path):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(child, function or child.name)
                elif isinstance(child, (ast.Import, ast.ImportFrom)):
                    for imported in _imported(module, child, path.name == "__init__.py"):
                        if function:
                            deferred.append((module, function, imported))
                        else:
                            top[module].add(imported)
                else:
                    visit(child, function)

        visit(tree)
    return top, deferred


def test_module_level_imports_have_no_cycle():
    top, _ = _imports()
    state = {}

    def visit(module, stack):
        state[module] = "visiting"
        for imported in sorted(top.get(module, ())):
            if imported == module or imported not in top:
                continue
            if state.get(imported) == "visiting":
                cycle = stack[stack.index(imported):] + [imported]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported, stack + [imported])
        state[module] = "done"

    for module in sorted(top):
        if module not in state:
            visit(module, [module])


def test_no_import_inside_a_function_hides_a_cycle():
    _, deferred = _imports()
    unexplained = sorted({(module, function) for module, function, _ in deferred} - set(DEFERRED_FOR_A_REASON))
    assert unexplained == [], f"imports inside functions (import at module level, or explain why not): {unexplained}"


def test_the_core_layers_import_one_way():
    top, _ = _imports()
    layers = ["training_config", "templates", "planned", "continuation", "pipeline", "loader"]
    for position, layer in enumerate(layers):
        later = {f"{PACKAGE}.{name}" for name in layers[position + 1:]}
        assert not top[f"{PACKAGE}.{layer}"] & later, (layer, top[f"{PACKAGE}.{layer}"] & later)
