"""`bench/run.py --clients 1,8,64,512`: the concurrent workload once per count, for the
scaling figures, with 64 keeping the key earlier runs and `--only` know it by."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from run import client_counts
from workloads import WORKLOADS, with_client_counts


def test_each_client_count_is_a_workload_of_its_own_with_its_count_in_the_label() -> None:
    expanded = with_client_counts(WORKLOADS, (1, 64, 512))
    concurrent = [w for w in expanded if w.key.startswith("ping-concurrent")]
    assert [w.key for w in concurrent] == [
        "ping-concurrent-1",
        "ping-concurrent",
        "ping-concurrent-512",
    ]
    assert [w.metrics[0].label for w in concurrent] == [
        "GET /_ping 1 clients",
        "GET /_ping 64 clients",
        "GET /_ping 512 clients",
    ]
    others = [w.key for w in expanded if not w.key.startswith("ping-concurrent")]
    assert others == [w.key for w in WORKLOADS if w.key != "ping-concurrent"]


def test_client_counts_must_be_distinct_positive_numbers() -> None:
    assert client_counts("1,8,64,512") == (1, 8, 64, 512)
    for bad in ("", "0,8", "8,8", "a"):
        with pytest.raises(argparse.ArgumentTypeError):
            client_counts(bad)
