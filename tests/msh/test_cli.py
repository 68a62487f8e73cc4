"""The ``msh`` command: exit codes, outputs, lazy imports, ``--no-jit``, JSON results."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core import config as numba_config
from test_graphs_dir import write_trace

from msh.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
DEMO = "graphs/firewall-demo.yaml"
GOLDEN = "tests/msh/golden"


def msh(*args, env=None, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m msh.cli`` in a fresh process from the repository root."""
    return subprocess.run([sys.executable, "-m", "msh.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=600, check=False, **kw)


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    return write_trace(tmp_path_factory.mktemp("cli") / "mix.pcap")


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_start_imports_nothing_heavy():
    code = ("import sys, msh.cli; msh.cli.build_parser(); print(sorted(m for m in ('numba',"
            " 'numpy', 'networkx', 'yaml', 'pydantic', 'elements', 'scapy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_validate_imports_only_the_kinds_it_uses():
    """Start-up: loading a graph imports its kinds' modules, not every element's, and
    calls no kernel (numba's first call loads its whole compiler, ~0.3 s)."""
    code = ("import sys; from msh.cli import main; main(['validate', 'graphs/firewall.yaml']);"
            " print(sorted(m for m in sys.modules if m.startswith('elements.')"
            " and m.count('.') == 2), 'numba.np.arraymath' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == (
        "['elements.ip.checkipheader', 'elements.ip.ipfilter', 'elements.ip.iprules',"
        " 'elements.standard.strip', 'elements.standard.unstrip'] False")


def test_help_and_subcommand_table():
    r = msh("--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert name in r.stdout
    assert msh().returncode == 2  # a subcommand is required (argparse's usage error)


def test_entry_point_script():
    exe = shutil.which("msh")
    if exe is None:
        pytest.skip("the msh script is not installed (pip install -e . --no-deps)")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("msh ")


def test_validate_ok_and_errors_exit_2_without_traceback():
    r = msh("validate", DEMO, f"{GOLDEN}/cycle.yaml", f"{GOLDEN}/no_source.yaml")
    assert r.returncode == 2
    assert r.stdout == f"ok: {DEMO} (5 elements)\n"
    expected = "".join(
        (ROOT / GOLDEN / f"{case}.err").read_text().replace(f"{case}.yaml",
                                                            f"{GOLDEN}/{case}.yaml")
        for case in ("cycle", "no_source"))
    assert r.stderr == expected
    assert "Traceback" not in r.stderr


def test_validate_all_ok(capsys):
    assert main(["validate", DEMO, "-p", "web_port=8080"]) == 0
    assert capsys.readouterr().out == f"ok: {DEMO} (5 elements)\n"


def test_validate_bad_param(capsys):
    assert main(["validate", DEMO, "-p", "web=1"]) == 2
    assert "parameter 'web' is set, but the graph declares no such parameter" in capsys.readouterr().err


def test_run_prints_counters_and_writes_json(trace, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["run", DEMO, "--input", str(trace), "--limit", "40", "--batch", "16",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("ip/strip :: Strip")
    assert any(line.startswith("fw :: IPFilter") and "dropped denied:" in line
               for line in lines)
    jit = not numba_config.DISABLE_JIT  # the suite also runs with NUMBA_DISABLE_JIT=1
    assert lines[-1].startswith("40 packets in ")
    report = json.loads(out.read_text())
    assert lines[-2] == f"left by out[0]:{report['exits'][0]}; dropped {report['dropped']}"
    assert f" Mpps (batch 16, {'JIT' if jit else 'no JIT'}, compile " in lines[-1]
    assert report["packets"] == report["entered"] == 40
    assert report["batch"] == 16 and report["jit"] is jit
    assert sum(report["exits"]) + report["dropped"] == 40
    assert report["elements"]["fw"]["kind"] == "IPFilter"
    assert len(report["elements"]["ip/chk"]["out"]) == 2


def test_no_jit_is_set_before_numba_loads(trace, tmp_path):
    graph = tmp_path / "g.yaml"
    graph.write_text("elements: {s: {kind: Strip, config: {length: 14}}, t: Tee, c: Counter,"
                     " d: Discard}\nconnections: [in -> s -> t -> c -> out, 't[1] -> d']\n")
    out = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    r = subprocess.run([sys.executable, "-m", "msh.cli", "run", str(graph), "--no-jit",
                        "--input", str(trace), "--json", str(out)], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["jit"] is False
    assert report["packets"] == 52
    assert report["elements"]["c"]["count"] == 52
    assert report["elements"]["d"]["drops"] == {"discarded": 52}


def test_run_source_graph_input_sets_the_param(trace, tmp_path, capsys):
    graph = tmp_path / "src.yaml"
    graph.write_text("params: {input: none.pcap}\n"
                     "elements:\n  src: {kind: FromPcap, config: {file: '${input}'}}\n"
                     "  c: Counter\n  d: Discard\n"
                     "connections: [src -> c -> d]\n")
    assert main(["run", str(graph), "--input", str(trace)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("src :: FromPcap") and "count=52" in lines[0]
    assert main(["run", str(graph)]) == 2
    assert "none.pcap" in capsys.readouterr().err


def test_run_source_graph_without_input_param_rejects_input(trace, tmp_path, capsys):
    graph = tmp_path / "gen.yaml"
    graph.write_text("elements:\n  g: {kind: TrafficGen, config: {count: 10}}\n"
                     "  d: Discard\nconnections: [g -> d]\n")
    assert main(["run", str(graph), "--input", str(trace)]) == 2
    assert "no 'input' parameter" in capsys.readouterr().err
    assert main(["run", str(graph)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("10 packets in ")


def test_run_user_errors_exit_2(trace, tmp_path, capsys):
    corrupt = tmp_path / "bad.pcap"
    corrupt.write_bytes(b"not a pcap file at all, no")
    assert main(["run", DEMO, "--input", str(corrupt)]) == 2
    assert "not a libpcap file" in capsys.readouterr().err
    assert main(["run", DEMO, "--input", str(tmp_path / "missing.pcap")]) == 2
    assert "missing.pcap" in capsys.readouterr().err
    assert main(["run", f"{GOLDEN}/cycle.yaml"]) == 2
    assert "packets can loop" in capsys.readouterr().err
    assert main(["run", DEMO, "--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err
    graph = tmp_path / "ipf.yaml"  # an error only make_state finds: no traceback either
    graph.write_text("elements: {f: {kind: IPFilter, config: {rules: ['2 tcp', allow]}}}\n"
                     "connections: [in -> f -> out]\n")
    assert main(["run", str(graph), "--input", str(trace)]) == 2
    assert "out of range" in capsys.readouterr().err


def test_run_without_any_trace_plays_the_default(monkeypatch, tmp_path, capsys):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    from elements.io.pcapfile import write_pcap

    trace = tmp_path / "default.pcap"
    write_pcap(trace, [bytes(Ether() / IP() / TCP(dport=80))] * 7)
    monkeypatch.setattr("msh.trace.default_trace", lambda: str(trace))
    assert main(["run", DEMO]) == 0
    assert "7 packets in" in capsys.readouterr().out


def test_elements_list_and_describe(capsys):
    assert main(["elements"]) == 0
    listing = capsys.readouterr().out.splitlines()
    strip = next(line for line in listing if line.startswith("Strip "))
    assert strip.split(None, 1)[1] == \
        "Remove ``length`` bytes from the front of every packet (Click's Strip)."
    assert main(["elements", "Strip"]) == 0
    page = capsys.readouterr().out
    assert "ports:  1/1 (1 input, 1 output)" in page
    assert "  length (int, required)\n      bytes to remove" in page
    assert "constraints: >= 0, <= 1024" in page
    assert "reads:  head, length" in page
    assert main(["elements", "Strp"]) == 2
    assert "did you mean 'Strip'" in capsys.readouterr().err


def test_show_text_and_dot(capsys):
    assert main(["show", DEMO]) == 0
    text = capsys.readouterr().out
    assert text.startswith("graph firewall-demo: 5 elements\n")
    assert "  ip/chk[1] -> [0]bad\n" in text
    assert "  ip/strip  Strip          length=14  (graphs/lib/common.yaml:10:7)\n" in text
    assert main(["show", DEMO, "--dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "firewall-demo" {')
    assert 'subgraph "cluster_ip"' in dot
    assert '"ip/chk" -> "bad" [taillabel="1"];' in dot


def test_show_png(tmp_path, capsys, monkeypatch):
    png = tmp_path / "g.png"
    if shutil.which("dot"):
        assert main(["show", DEMO, "--png", str(png)]) == 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["show", DEMO, "--png", str(png)]) == 2
    assert "Graphviz" in capsys.readouterr().err


def test_every_kind_has_a_manual_page():
    from elements.element import REGISTRY, load_all
    from msh.cli import describe_kind, summary

    load_all()
    for kind, cls in REGISTRY.items():
        page = describe_kind(cls)
        assert page.startswith(f"{kind}\n") and "\nports:  " in page and "\ndrops:  " in page
        assert summary(cls), f"{kind} has no docstring summary"
