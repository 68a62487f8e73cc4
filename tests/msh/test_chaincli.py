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
CHAINS = sorted((ROOT / "graphs/chains").glob("*.yaml"))


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
    # Every intermediate is YAML naming each element of that stage of the plan (that
    # each loads back and runs: test_every_dumped_pass_of_every_chain_loads_and_runs).
    final = yaml.safe_load(dumps[-1].read_text())
    assert "fw/fw/rules" in final["elements"] and "nat/nat" in final["elements"]
    assert any("-> out" in line for line in final["connections"])


@pytest.mark.parametrize("chain", CHAINS, ids=lambda p: p.stem)
def test_every_dumped_pass_of_every_chain_loads_and_runs(chain, tmp_path, capsys):
    """A chain leaves the NAT's and the LB's reply inputs unconnected; the dump feeds
    them from an Idle, so each file validates and ``msh run FILE`` plays the default
    trace through it: every packet accounted for, the same exits and drops as the
    naive chain (the cache_flows dump runs without its cache: that is plan data)."""
    limit = "2000"
    passes = tmp_path / "passes"
    assert main(["compile", str(chain), "-o", str(tmp_path / "plan.json"),
                 "--dump-passes", str(passes)]) == 0
    dumps = sorted(passes.glob("*.yaml"))
    assert len(dumps) >= 6
    assert main(["validate", *map(str, dumps)]) == 0
    naive = tmp_path / "naive.json"
    assert main(["run", str(chain), "--path", "naive", "--limit", limit, "--json", str(naive),
                 "--no-progress"]) == 0
    want = json.loads(naive.read_text())
    idled = 0
    for dump in dumps:
        text = dump.read_text()
        idled += "kind: Idle" in text
        out = tmp_path / f"{dump.stem}.json"
        assert main(["run", str(dump), "--limit", limit, "--json", str(out),
                     "--no-progress"]) == 0, dump.name
        got = json.loads(out.read_text())
        assert got["entered"] == want["entered"] == int(limit), dump.name
        assert (got["exits"], got["dropped"]) == (want["exits"], want["dropped"]), dump.name
        for name, info in got["elements"].items():
            if name.startswith("idle"):
                assert not any(info["out"]) and not info["drops"], (dump.name, name)
    assert idled == len(dumps)  # every shipped chain has a reply input left unfed


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
