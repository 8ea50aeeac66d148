"""``poqw shards``: the marketplace from the command line, simulated and on loopback workers."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from poqw.cli.main import app

runner = CliRunner()


def test_simulated_nodes_json_catches_the_cheater() -> None:
    result = runner.invoke(app, ["shards", "--random-regular", "3", "60", "--simulate-nodes",
                                 "50", "--grid", "1", "--cheaters", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["mode"] == "simulated" and doc["nodes"] == 50 and doc["variables"] == 60
    assert doc["points"] == 1 and doc["max_abs_difference"] < 1e-9
    (caught,) = doc["cheaters_caught"]
    assert caught not in doc["payments"] and doc["payments"]
    assert doc["market_seconds"] > 0 and doc["speedup"] > 0


def test_table_output_and_option_mistakes() -> None:
    result = runner.invoke(app, ["shards", "--random-regular", "3", "20", "--simulate-nodes",
                                 "5", "--grid", "1", "--latency", "constant:10"])
    assert result.exit_code == 0, result.output
    assert "bids and awards" in result.output and "speedup" in result.output
    both = runner.invoke(app, ["shards", "--random-regular", "3", "20", "--workers", "2",
                               "--simulate-nodes", "5"])
    assert both.exit_code != 0 and "exactly one of --workers N or --simulate-nodes N" in \
        both.output
    bad = runner.invoke(app, ["shards", "--random-regular", "3", "20", "--simulate-nodes", "5",
                              "--latency", "sideways"])
    assert bad.exit_code != 0 and "unknown latency model" in bad.output
