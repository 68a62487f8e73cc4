"""The chain commands: compile, explain, show --plan, run --path, run --trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from msh.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHAIN = str(ROOT / "graphs/chains/fw-nat-lb.yaml")


@pytest.fixture(scope="module")
def pcap(tmp_path_factory) -> Path:
    """One web flow (SYN then three ACKs) the chain forwards, one flow the firewall
    denies (MySQL from outside the admin network)."""
    def tcp(dport, flags, t):
        p = Ether() / IP(src="10.0.200.7", dst="192.168.1.9") / TCP(sport=4000, dport=dport,
                                                                      flags=flags)
        p.time = t
        return p

    path = tmp_path_factory.mktemp("chaincli") / "flows.pcap"
    wrpcap(str(path), [tcp(80, "S", 1.0), tcp(80, "A", 1.1), tcp(80, "A", 1.2),
                       tcp(3306, "S", 1.3), tcp(80, "PA", 1.4)])
    return path


def test_compile_writes_the_plan_and_every_pass(tmp_path, capsys):
    out, passes = tmp_path / "plan.json", tmp_path / "passes"
    assert main(["compile", CHAIN, "-o", str(out), "--dump-passes", str(passes)]) == 0
    plan = json.loads(out.read_text())
    assert plan["cost"]["msh"]["parses"] < plan["cost"]["naive"]["parses"]
    dumps = sorted(passes.glob("*.yaml"))
    assert [d.name[:2] for d in dumps] == [f"{k:02}" for k in range(len(dumps))]
    assert len(dumps) >= 6
    # Every intermediate is YAML naming each element of that stage of the plan. (They
    # do not load back here: the NAT's and the LB's reply inputs are not connected in a
    # chain, which the loader rejects; tests/msh/test_passes.py round-trips a chain
    # without such inputs.)
    final = yaml.safe_load(dumps[-1].read_text())
    assert "fw/fw/rules" in final["elements"] and "nat/nat" in final["elements"]
    assert any("-> out" in line for line in final["connections"])


def test_explain_says_what_was_removed_hoisted_and_cached(capsys):
    assert main(["explain", CHAIN]) == 0
    text = capsys.readouterr().out
    assert "removed" in text and "cache" in text


def test_show_plan_draws_the_stages(capsys):
    assert main(["show", CHAIN, "--plan", "--dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph")


def test_both_paths_run_with_the_same_exits(pcap, tmp_path, capsys):
    reports = {}
    for path in ("naive", "msh"):
        out = tmp_path / f"{path}.json"
        assert main(["run", CHAIN, "--path", path, "--input", str(pcap), "--json", str(out),
                     "--no-progress"]) == 0
        reports[path] = json.loads(out.read_text())
    assert reports["naive"]["exits"] == reports["msh"]["exits"] == [4, 0, 0]
    assert reports["naive"]["drops_by_middlebox"] == reports["msh"]["drops_by_middlebox"] \
        == {"fw": 1}
    assert reports["msh"]["flow_cache"]["hits"] == 3


def test_trace_names_the_original_elements_and_cache_hits(pcap, capsys):
    assert main(["run", CHAIN, "--input", str(pcap), "--trace", "0,1,3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("packet 0: fw/fw/strip -> fw/fw/chk -> fw/fw/rules")
    assert lines[0].endswith("-> out[0]")
    assert lines[1].startswith("packet 1: fw/fw/strip -> fw/fw/chk -> flow cache hit")
    assert lines[2].startswith("packet 3:") and lines[2].endswith("fw/fw/rules -> dropped")
    assert len(lines) == 3
