"""The local stack's cluster mode without starting it: node properties, ports, stack.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backbone.settings import load_settings
from backbone.stack import LocalStack, StackError
from backbone.stack.local import KafkaNode, _server_properties, _State


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if line and not line.startswith("#"))


def test_a_cluster_node_replicates_kafkas_own_topics_and_forbids_unclean_election() -> None:
    node = KafkaNode(2, 19094, 19095, 0)
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    conf = properties(_server_properties(node, voters, 3, Path("/data")))
    assert conf["node.id"] == "2" and conf["controller.quorum.voters"] == voters
    assert conf["listeners"].startswith("PLAINTEXT://127.0.0.1:19094,")
    assert conf["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19094"
    assert (conf["offsets.topic.replication.factor"], conf["transaction.state.log.min.isr"],
            conf["default.replication.factor"]) == ("3", "2", "3")
    assert conf["unclean.leader.election.enable"] == "false"


def test_a_single_node_keeps_replication_one() -> None:
    conf = properties(_server_properties(KafkaNode(1, 9092, 9093, 0), "1@127.0.0.1:9093", 1,
                                         Path("/data")))
    assert (conf["offsets.topic.replication.factor"], conf["transaction.state.log.min.isr"]) == (
        "1", "1")


def test_behind_a_proxy_a_node_binds_its_listen_port_and_advertises_the_proxys() -> None:
    conf = properties(_server_properties(KafkaNode(1, 19300, 19301, 0, listen_port=19320),
                                         "1@127.0.0.1:19301", 1, Path("/data")))
    assert "PLAINTEXT://127.0.0.1:19320" in conf["listeners"]
    assert conf["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19300"


def test_node_ports_step_by_two_from_the_settings(tmp_path: Path) -> None:
    stack = LocalStack(load_settings(state_dir=tmp_path, kafka_port=19610, controller_port=19611,
                                     registry_port=19690, registry_management_port=19691))
    ports, nodes = stack._choose_ports(3)
    assert nodes == [(19610, 19611), (19612, 19613), (19614, 19615)]
    assert (ports.kafka, ports.registry) == (19610, 19690)


def test_a_stack_json_written_before_clusters_still_reads(tmp_path: Path) -> None:
    old = {"ports": {"kafka": 9092, "controller": 9093, "registry": 8081,
                     "registry_management": 9001}, "kafka_pid": 11, "registry_pid": 12}
    state = _State.from_json(json.dumps(old))
    assert state.nodes == (KafkaNode(1, 9092, 9093, 11),)
    assert _State.from_json(state.to_json()) == state


def test_starting_a_node_of_no_recorded_stack_says_so(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="no local stack is recorded"):
        LocalStack(load_settings(state_dir=tmp_path)).start_node(2)
