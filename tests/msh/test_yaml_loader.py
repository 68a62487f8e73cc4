"""The YAML loader: scalars, positions, parameters, includes and compound flattening."""

import textwrap

import pytest
import yaml
from elementkit import run_graph

from msh import graph as G
from msh.errors import ErrorList, GraphError
from msh.graph import Where
from msh.validate import check_graph
from msh.yamlgraph import Source, load, plain_scalar, substituter


def write(tmp_path, text: str, name: str = "g.yaml"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def errors(path, params=None) -> list[str]:
    with pytest.raises(GraphError) as info:
        load(path, params)
    return [f"{p.where.line}:{p.where.col}: {p.message}" for p in info.value.problems]


def edges(g) -> set[tuple]:
    return {(u, d["src_port"], v, d["dst_port"]) for u, v, d in g.edges(data=True)}


FRAME = bytes(64)


# --- scalars --------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("NO", "NO"), ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"),
    ("true", True), ("False", False), ("TRUE", True), ("null", None), ("~", None),
    ("", None), ("14", 14), ("-3", -3), ("+7", 7), ("0x1F", 31), ("0o17", 15),
    ("0755", 755), ("1.5", 1.5), ("1e3", 1000.0), ("-.5", -0.5), ("1_000", "1_000"),
    ("10.0.0.0/8", "10.0.0.0/8"), ("1.2.3.4", "1.2.3.4"), ("12:30", "12:30"),
    ("0b101", "0b101"), (".inf", float("inf")), ("-.Inf", float("-inf")),
])
def test_plain_scalars_follow_yaml_1_2_core(text, value):
    got = plain_scalar(text)
    assert got == value and type(got) is type(value)


def test_quoted_and_tagged_scalars(tmp_path):
    path = write(tmp_path, """\
        params: {a: "14", b: !!str 15, c: !!int "16", d: !!float 2, e: 'NO', f: [1, "2"]}
        connections: ["in -> out"]
    """)
    assert load(path).graph["params"] == {"a": "14", "b": "15", "c": 16, "d": 2.0, "e": "NO",
                                          "f": [1, "2"]}


def test_bad_and_unknown_tags(tmp_path):
    path = write(tmp_path, """\
        params: {a: !!int x, b: !custom 1, c: !!bool yes}
        connections: ["in -> out"]
    """)
    assert errors(path) == ["1:13: 'x' is not a valid int",
                            "1:25: unsupported YAML tag '!custom'",
                            "1:39: 'yes' is not a valid bool"]


# --- structure and positions -----------------------------------------------------------


def test_round_trip_elements_edges_and_places(tmp_path):
    path = write(tmp_path, """\
        graph: demo
        elements:
          strip: {kind: Strip, config: {length: 14}}
          t: Tee
          paint:
            kind: Paint
            config: {color: 7}
          drop: {kind: Discard}
        connections:
          - in -> strip -> t -> paint -> out
          - "t[1] -> [0]drop"
          - t[2]->[1]drop
    """)
    g = load(path)
    assert g.graph["name"] == "demo"
    assert [n for n, _ in G.elements(g)] == ["strip", "t", "paint", "drop"]
    assert g.nodes["strip"]["element"].config.length == 14
    assert g.nodes["paint"]["element"].config.color == 7
    assert g.nodes["t"]["where"] == Where(str(path), 4, 3)
    assert g.nodes["paint"]["where"] == Where(str(path), 5, 3)
    assert {g.nodes[n]["owner"] for n, _ in G.elements(g)} == {"demo"}
    assert edges(g) == {("in", 0, "strip", 0), ("strip", 0, "t", 0), ("t", 0, "paint", 0),
                        ("paint", 0, "out", 0), ("t", 1, "drop", 0), ("t", 2, "drop", 1)}
    where = {(u, d["src_port"]): d["where"] for u, _, d in g.edges(data=True)}
    assert where[("in", 0)] == Where(str(path), 10, 5)
    assert where[("strip", 0)] == Where(str(path), 10, 11)
    assert where[("paint", 0)] == Where(str(path), 10, 25)
    assert where[("t", 1)] == Where(str(path), 11, 6)  # inside the quotes
    assert where[("t", 2)] == Where(str(path), 12, 5)
    assert check_graph(g).problems == []


def test_graph_name_defaults_to_file_stem(tmp_path):
    path = write(tmp_path, "connections: ['in -> out']\n", "plain.yaml")
    assert load(path).graph["name"] == "plain"


def test_text_stands_in_for_the_file(tmp_path):
    text = "elements: {c: Counter}\nconnections: [in -> c -> out]\n"
    g = load(tmp_path / "nothing.yaml", text=text)
    assert [n for n, _ in G.elements(g)] == ["c"]


def test_invalid_names_and_shapes(tmp_path):
    path = write(tmp_path, """\
        elements:
          in: Counter
          9lives: Counter
          x: [1, 2]
          y: {config: {}}
        connections: in -> out
    """)
    assert errors(path) == [
        "2:3: invalid element name 'in'",
        "3:3: invalid element name '9lives'",
        "4:6: element 'x' must be a mapping like {kind: Strip, config: {...}}, found a list",
        "5:3: element 'y' has no 'kind'",
        "6:14: 'connections' must be a list of 'a -> b' lines, found 'in -> out'",
    ]


def test_mapping_key_must_be_scalar(tmp_path):
    path = write(tmp_path, "? [a, b]\n: 1\nconnections: ['in -> out']\n")
    assert errors(path)[0] == "1:3: a mapping key must be a scalar, found a collection"


def test_not_a_mapping_and_multiple_documents(tmp_path):
    assert errors(write(tmp_path, "- a\n- b\n")) == [
        "1:1: a graph file must be a mapping with 'elements' and 'connections', found a list"]
    assert errors(write(tmp_path, "a: 1\n---\nb: 2\n")) == [
        "2:1: invalid YAML: but found another document"]


def test_unreadable_file(tmp_path):
    assert errors(tmp_path / "missing.yaml")[0].startswith("0:0: cannot read the file")


# --- parameters ----------------------------------------------------------------------


PARAMS = """\
    params: {len: 14, color: 3, tag: web, rules: [a, b]}
    elements:
      s: {kind: Strip, config: {length: "${len}"}}
      p: {kind: Paint, config: {color: "${color}"}}
    connections: ["in -> s -> p -> out"]
"""


def test_whole_value_params_keep_their_type(tmp_path):
    g = load(write(tmp_path, PARAMS))
    assert g.nodes["s"]["element"].config.length == 14
    assert g.graph["params"] == {"len": 14, "color": 3, "tag": "web", "rules": ["a", "b"]}


def test_overrides_from_the_command_line_are_yaml(tmp_path):
    path = write(tmp_path, PARAMS)
    g = load(path, ["len=20", "color = 0x10"])
    assert g.nodes["s"]["element"].config.length == 20
    assert g.nodes["p"]["element"].config.color == 16
    g = load(path, {"len": 30})
    assert g.nodes["s"]["element"].config.length == 30


def test_override_errors(tmp_path):
    path = write(tmp_path, PARAMS)
    assert errors(path, ["lenn=1", "oops", "color=[1,", "len=NO"]) == [
        "0:0: -p oops: expected name=value",
        "0:0: -p color=[1,: the value is not valid YAML",
        "0:0: parameter 'lenn' is set, but the graph declares no such parameter",
        '3:37: \'s :: Strip\': length: expected an integer, found "NO"',
    ]


def test_params_inside_strings_and_escapes(tmp_path):
    path = write(tmp_path, """\
        params: {port: 8080, on: true, name: web}
        elements:
          f: {kind: IPFilter, config: {rules: ["allow tcp dst port ${port}", "deny all"]}}
          c: Counter
        connections: ["in -> f -> c -> out"]
    """)
    g = load(path)
    assert g.nodes["f"]["element"].config.rules == ["allow tcp dst port 8080", "deny all"]
    src = Source("x", ErrorList())
    subst = substituter(src, {"port": 80, "on": True, "name": "web", "n": None}, "who")
    node = yaml.ScalarNode("tag:yaml.org,2002:str", "")
    assert subst("${on}/${name}:${port} ${n} $${port}", node) == "true/web:80 null ${port}"
    assert subst("${port}", node) == 80 and not src.errs


def test_param_errors_are_located_in_the_string(tmp_path):
    path = write(tmp_path, """\
        params: {ports: [80, 443]}
        elements:
          f: {kind: IPFilter, config: {rules: ["allow tcp dst port ${ports}", "deny ${x y}", "allow ${nope}"]}}
          c: Counter
        connections: ["in -> f -> c -> out"]
    """)
    assert errors(path) == [
        "3:60: 'f :: IPFilter': parameter '${ports}' is a list and cannot be part of a string",
        "3:77: 'f :: IPFilter': malformed parameter reference '${x y}'",
        "3:93: 'f :: IPFilter': undefined parameter '${nope}'",
    ]


# --- includes and compound classes -----------------------------------------------------


LIB = """\
    classes:
      Front:
        params: {offset: 14, color: 1}
        elements:
          strip: {kind: Strip, config: {length: "${offset}"}}
          paint: {kind: Paint, config: {color: "${color}"}}
        connections: ["in -> strip -> paint -> out"]
"""


def test_include_brings_classes_and_flattens_with_places(tmp_path):
    lib = write(tmp_path, LIB, "lib/front.yaml")
    path = write(tmp_path, """\
        params: {c: 9}
        include: [lib/front.yaml]
        elements:
          a: {kind: Front}
          b: {kind: Front, config: {offset: 0, color: "${c}"}}
        connections: ["in -> a -> b -> out"]
    """)
    g = load(path)
    assert [n for n, _ in G.elements(g)] == ["a/strip", "a/paint", "b/strip", "b/paint"]
    assert g.nodes["a/strip"]["element"].config.length == 14
    assert g.nodes["b/strip"]["element"].config.length == 0
    assert g.nodes["a/paint"]["element"].config.color == 1
    assert g.nodes["b/paint"]["element"].config.color == 9
    assert g.nodes["b/strip"]["where"] == Where(str(lib), 5, 7)
    assert edges(g) == {("in", 0, "a/strip", 0), ("a/strip", 0, "a/paint", 0),
                        ("a/paint", 0, "b/strip", 0), ("b/strip", 0, "b/paint", 0),
                        ("b/paint", 0, "out", 0)}
    seen, _ = run_graph(g, [bytes(range(60))] * 3)
    assert [port for port, _ in seen] == [0, 0, 0]
    assert all(frame == bytes(range(14, 60)) for _, frame in seen)


def test_nested_pass_through_and_multi_port_classes(tmp_path):
    path = write(tmp_path, """\
        classes:
          Pass:
            connections: ["in -> out", "in[1] -> [1]out"]
          Split:
            elements:
              t: Tee
              p: {kind: Pass}
            connections: ["in -> t -> p -> out", "t[1] -> [1]p[1] -> [1]out"]
        elements:
          s: {kind: Split}
          c0: Counter
          c1: Counter
        connections: ["in -> s -> c0 -> out", "s[1] -> c1 -> [1]out"]
    """)
    g = load(path)
    assert edges(g) == {("in", 0, "s/t", 0), ("s/t", 0, "c0", 0), ("s/t", 1, "c1", 0),
                        ("c0", 0, "out", 0), ("c1", 0, "out", 1)}
    seen, _ = run_graph(g, [FRAME] * 4)
    assert sorted(port for port, _ in seen) == [0] * 4 + [1] * 4


def test_compound_errors(tmp_path):
    lib = write(tmp_path, LIB, "lib/front.yaml")
    write(tmp_path, "classes:\n  Front: {connections: ['in -> out']}\n", "lib/other.yaml")
    path = write(tmp_path, """\
        include: [lib/front.yaml, lib/other.yaml, lib/none.yaml]
        classes:
          A: {elements: {b: B}, connections: ["in -> b -> out"]}
          B: {elements: {a: A}, connections: ["in -> a -> out"]}
        elements:
          f: {kind: Front, config: {ofset: 1}}
          g: {kind: Front, config: 5}
          a: {kind: A}
          h: {kind: Frnt}
        connections: ["in -> f -> g -> a -> h -> out", "f[1] -> [2]out"]
    """)
    assert errors(path) == [
        f"1:27: class 'Front' from 'lib/other.yaml' is also defined at {lib}:2:3",
        "1:43: cannot include 'lib/none.yaml': no such file",
        "4:21: 'a/b/a :: A': class 'A' contains itself (A -> B -> A)",
        "6:29: 'f :: Front': class 'Front' has no parameter 'ofset'",
        ("7:28: 'g :: Front': the config of a compound element must be a mapping of"
         " parameters, found '5'"),
        "9:13: 'h :: Frnt': unknown element kind 'Frnt'",
        "10:49: 'f :: Front' has no output 1: it has 1 output",
        "10:49: graph output 1 is not connected, but graph output 2 is",
    ]


def test_class_body_port_errors_are_reported_once(tmp_path):
    path = write(tmp_path, """\
        classes:
          Leaky:
            elements: {t: Tee}
            connections: ["in -> t -> out", "t[2] -> [1]out"]
        elements: {a: Leaky, b: Leaky, d: Discard}
        connections: ["in -> a -> b -> out", "a[1] -> d", "b[1] -> [1]d"]
    """)
    assert errors(path) == ["3:16: output 1 of 't :: Tee' is not connected"]


def test_compound_outputs_must_be_connected(tmp_path):
    write(tmp_path, """\
        classes:
          Two:
            elements: {t: Tee}
            connections: ["in -> t -> out", "t[1] -> [1]out"]
    """, "lib.yaml")
    path = write(tmp_path, """\
        include: lib.yaml
        elements: {two: Two}
        connections: ["in -> two -> out"]
    """)
    assert errors(path) == ["2:12: output 1 of 'two :: Two' is not connected"]


def test_cycle_through_a_compound(tmp_path):
    path = write(tmp_path, """\
        classes:
          Wrap: {elements: {c: Counter}, connections: ["in -> c -> out"]}
        elements: {t: Tee, w: Wrap}
        connections: ["in -> t -> out", "t[1] -> w -> t"]
    """)
    assert errors(path) == ["4:34: packets can loop: t -> w/c -> t"]


# --- the checker on built graphs ------------------------------------------------------


def test_check_graph_finds_problems_in_a_built_graph():
    from elements.element import lookup

    g = G.new_graph("built")
    G.add_element(g, lookup("Counter")("a"))
    G.add_element(g, lookup("Counter")("b"))
    G.connect(g, "in", 0, "a", 0)
    G.connect(g, "a", 0, "b", 0)
    G.connect(g, "a", 0, "out", 0)
    G.connect(g, "b", 0, "a", 0)
    messages = [p.message for p in check_graph(g).problems]
    assert "output 0 of 'a :: Counter' is connected twice: to 'b' (line 0) and to 'out'" \
        in messages
    assert "packets can loop: a -> b -> a" in messages


def test_recursive_alias_is_an_error_not_a_crash(tmp_path):
    path = write(tmp_path, """\
        params: {a: &x [1, *x]}
        connections: ["in -> out"]
    """)
    assert errors(path) == ["1:13: a YAML alias refers to a collection that contains it"]


def test_compound_param_errors_do_not_cascade_inside(tmp_path):
    write(tmp_path, LIB, "lib/front.yaml")
    path = write(tmp_path, """\
        include: lib/front.yaml
        elements:
          a: {kind: Front, config: {offset: "${nope}"}}
          b: {kind: Front, config: }
        connections: ["in -> a -> b -> out"]
    """)
    assert errors(path) == ["3:38: 'a :: Front': undefined parameter '${nope}'"]


def test_a_bad_end_does_not_make_the_good_end_unconnected(tmp_path):
    path = write(tmp_path, """\
        elements: {a: Counter, b: Counter, c: Counter}
        connections: ["in -> a -> [3]b -> out", "a -> c -> [2]out"]
    """)
    assert errors(path) == [
        "2:27: 'b :: Counter' has no input 3: it has 1 input",
        "2:42: output 0 of 'a :: Counter' is connected twice: to 'b' (line 2) and to 'c'",
        "2:47: graph output 1 is not connected, but graph output 2 is",
    ]


def test_element_checks_of_connected_ports_are_located(tmp_path, monkeypatch):
    from elements.element import lookup

    def check(self, n_inputs, n_outputs):
        if n_outputs != 2:
            raise ValueError(f"wants 2 outputs, has {n_outputs} (inputs: {n_inputs})")

    monkeypatch.setattr(lookup("Tee"), "check_connections", check)
    path = write(tmp_path, """\
        elements: {t: Tee, d: Discard}
        connections: ["in -> t -> out", "t[1] -> d", "t[2] -> [1]d"]
    """)
    assert errors(path) == ["1:12: 't :: Tee': wants 2 outputs, has 3 (inputs: 1)"]
    g = load(path.parent / "ok.yaml", text="elements: {t: Tee, d: Discard}\n"
             "connections: ['in -> t -> out', 't[1] -> d']\n")
    assert check_graph(g).problems == []
    G.connect(g, "t", 2, "d", 1)
    assert [p.message for p in check_graph(g).problems] == [
        "'t :: Tee': wants 2 outputs, has 3 (inputs: 1)"]
