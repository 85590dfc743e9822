"""The one YAML loader of the project: strict, so a file means what it says.

`load_strict_yaml(text, source)` reads one YAML document as JSON-like data (mappings with string
keys, lists, strings, numbers, booleans, null) or raises `StrictYamlError`, a one-line message
naming the source and the line. Plain PyYAML would silently keep the last of two equal keys, read
`2024-01-01` as a date, `!!binary`/`!!set` as bytes and sets, `yes:` as the key True, build
recursive structures from `&a [*a]`, and expand a few nested aliases into billions of nodes (the
"billion laughs": `json.dumps` of the result never ends). Every one of these is an error here.

Merge keys (`<<: *base`) keep YAML's meaning: keys written in the mapping override merged ones,
and only keys written twice in the same mapping are duplicates.

Parameters files, training configs (the CLI's and the embedded ones) and the kind templates read
by the plan all go through this function.
"""

import math

import yaml

# More nodes than any real config (the largest public config has a few thousand once expanded),
# far fewer than an alias bomb needs to hurt.
MAX_EXPANDED_NODES = 200_000
# Real configs and parameters files are a few kilobytes. PyYAML's pure-Python parser takes seconds
# per few hundred kilobytes, and time quadratic in the depth of `[`/`{` nesting: both are bounded
# before parsing, so any file is read or refused in bounded time.
MAX_CHARACTERS = 256 * 1024
MAX_FLOW_DEPTH = 64
MAX_NUMBER_DIGITS = 40  # Python refuses to convert integers of over 4300 digits; no config needs 40


class StrictYamlError(ValueError):
    """A YAML file that is not plain JSON-like data, in one line."""


def _line(node_or_mark):
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1 if mark is not None else "?"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader composing with bounded alias expansion and constructing JSON-like values only."""

    def __init__(self, stream, source):
        super().__init__(stream)
        self.source = source

    def fail(self, line, message):
        raise StrictYamlError(f"{self.source}: line {line}: {message}")

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        self._check_graph(node)
        return self.construct_document(node)

    def _check_graph(self, root):
        """Aliases make the composed nodes a graph: refuse cycles (recursive anchors) and more
        than MAX_EXPANDED_NODES nodes once every alias is expanded. Iterative, sizes memoized."""
        sizes = {}  # id(node) -> expanded size, once known
        on_path = set()
        stack = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            key = id(node)
            if children_done:
                on_path.discard(key)
                size = 1 + sum(sizes[id(child)] for child in _children(node))
                if size > MAX_EXPANDED_NODES:
                    self.fail(_line(node), f"aliases expand this to more than {MAX_EXPANDED_NODES} values")
                sizes[key] = size
                continue
            if key in sizes:
                continue
            on_path.add(key)
            stack.append((node, True))
            for child in _children(node):
                if id(child) in on_path:
                    self.fail(_line(child), "a recursive anchor: an alias inside this node refers to the node itself")
                if id(child) not in sizes:
                    stack.append((child, False))

    # Construction: JSON-like values only.
    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            self.fail(_line(node), f"expected a mapping, found {node.id}")
        seen = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                self.fail(
                    _line(key_node),
                    f"the key {key_node.value!r} is read as a {_kind(key)}, not a string: quote it",
                )
            if key in seen:
                self.fail(_line(key_node), f"duplicate key {key!r} (first at line {seen[key]}); keep one")
            seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_NUMBER_DIGITS:
            self.fail(_line(node), f"a number of more than {MAX_NUMBER_DIGITS} digits ({len(node.value)})")
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        value = super().construct_yaml_float(node)
        if math.isinf(value) or math.isnan(value):
            self.fail(_line(node), f"{node.value!r} is not a finite number (JSON has no inf or nan)")
        return value


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return ()


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number"}.get(type(value), type(value).__name__)


def _reject(description):
    def constructor(loader, node):
        loader.fail(_line(node), f"{description} ({node.value!r}) is not plain data: quote it as a string")

    return constructor


def _reject_collection(description):
    def constructor(loader, node):
        loader.fail(_line(node), f"{description} is not plain data (use a list or a mapping)")

    return constructor


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _reject("a date"))
_StrictLoader.add_constructor("tag:yaml.org,2002:binary", _reject("!!binary data"))
_StrictLoader.add_constructor("tag:yaml.org,2002:set", _reject_collection("a !!set"))
_StrictLoader.add_constructor("tag:yaml.org,2002:omap", _reject_collection("an !!omap"))
_StrictLoader.add_constructor("tag:yaml.org,2002:pairs", _reject_collection("!!pairs"))
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def _unknown_tag(loader, node):
    loader.fail(_line(node), f"the tag {node.tag} is not plain data")


_StrictLoader.add_constructor(None, _unknown_tag)


def _problem(error):
    """A PyYAML error in one line: what and where."""
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    return where + " ".join(str(problem).split())


def _flow_depth(text):
    """The deepest nesting of `[`/`{` (an upper bound: brackets in strings count too)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def load_strict_yaml(text, source="<yaml>"):
    """The data of one YAML document (None when it is empty); StrictYamlError on any problem."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StrictYamlError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if len(text) > MAX_CHARACTERS:
        raise StrictYamlError(f"{source}: {len(text)} characters, more than {MAX_CHARACTERS}: configs are a few kilobytes")
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise StrictYamlError(f"{source}: nested too deeply (more than {MAX_FLOW_DEPTH} levels of [ and {{)")
    loader = _StrictLoader(text, source)
    try:
        return loader.get_single_data()
    except StrictYamlError:
        raise
    except yaml.YAMLError as e:
        raise StrictYamlError(f"{source}: not valid YAML: {_problem(e)}") from None
    except RecursionError:
        raise StrictYamlError(f"{source}: nested too deeply") from None
    except ValueError as e:  # a value PyYAML's own constructors cannot convert
        raise StrictYamlError(f"{source}: {' '.join(str(e).split())}") from None
    finally:
        loader.dispose()


def read_strict_yaml(path):
    """`load_strict_yaml` of a file; an unreadable file is a StrictYamlError too."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise StrictYamlError(f"{path}: cannot read it: {e.strerror or e}") from None
    return load_strict_yaml(data, str(path))
