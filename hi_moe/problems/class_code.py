"""A class built method by method: a method's code taken from a reply, the class assembled from
its skeleton (imports, constructor and stubs) with the methods written so far, and the one-line
interfaces a method sees of the others."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Mapping

METHOD_INDENT = "    "


def _class_def(tree: ast.Module, class_name: str) -> ast.ClassDef | None:
    """The top-level class `class_name` of `tree` (the first class when the name is '')."""
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    named = [node for node in classes if node.name == class_name or not class_name]
    return named[0] if named else None


def _method_def(tree: ast.Module, name: str, class_name: str) -> ast.FunctionDef | None:
    """`name` defined in the class (or, failing that, at the top level of the module)."""
    found = _class_def(tree, class_name)
    scopes = ([found.body] if found else []) + [tree.body]
    for body in scopes:
        for node in body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
    return None


def _span(node: ast.FunctionDef) -> range:
    """The 0-based line numbers of a definition, its decorators included."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return range(first - 1, node.end_lineno or node.lineno)


def method_source(code: str, name: str, class_name: str) -> str:
    """The definition of method `name` in `code` (in class `class_name`, else at the top
    level), dedented to column 0; '' when the code does not parse or lacks it."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    method = _method_def(tree, name, class_name)
    if method is None:
        return ""
    lines = code.splitlines(keepends=True)
    return textwrap.dedent("".join(lines[line] for line in _span(method)))


def new_imports(code: str, skeleton: str) -> str:
    """The top-level import lines of `code` that the skeleton lacks (a method may need more)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    have = set(skeleton.splitlines())
    lines = [ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return "".join(f"{line}\n" for line in dict.fromkeys(lines) if line not in have)


def assemble_class(
    skeleton: str, class_name: str, methods: Mapping[str, str], imports: str = ""
) -> str:
    """The skeleton with each method of `methods` (name -> its definition at column 0) in place
    of its stub, or added at the end of the class where it has none; the other stubs stay
    (they return None). `imports` go first."""
    tree = ast.parse(skeleton)
    found = _class_def(tree, class_name)
    if found is None:
        raise ValueError(f"the skeleton defines no class {class_name}")
    lines = skeleton.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"

    def indented(name: str) -> str:
        return textwrap.indent(methods[name].strip("\n") + "\n", METHOD_INDENT)

    stubs = [n for n in found.body if isinstance(n, ast.FunctionDef) and n.name in methods]
    missing = [name for name in methods if name not in {stub.name for stub in stubs}]
    end = found.end_lineno or found.lineno
    lines[end:end] = [f"\n{indented(name)}" for name in missing]
    for stub in sorted(stubs, key=lambda n: n.lineno, reverse=True):
        span = _span(stub)
        lines[span.start : span.stop] = [indented(stub.name)]
    return imports + "".join(lines)


def interface(skeleton: str, name: str, class_name: str) -> str:
    """`def name(self, ...)`: first docstring line, the method as another method sees it."""
    method = _method_def(ast.parse(skeleton), name, class_name)
    if method is None:
        return f"def {name}(...)"
    doc = (ast.get_docstring(method) or "").strip().splitlines()
    summary = f": {doc[0]}" if doc else ""
    return f"def {name}({ast.unparse(method.args)}){summary}"
