"""`kwbuild build --executor dask`: cache misses extracted on a real Dask cluster (worker processes on this machine).

One `LocalCluster` of two worker processes serves the module. Each build's tables are compared, byte for byte, with
those of a local build of the same tree: ~300 files of CPython's standard library, plus a syntax error, a file that
is not UTF-8 and two files with the same bytes.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import signal
import socket
import sysconfig
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import diskcache
import pytest

distributed = pytest.importorskip("distributed")

from kwbuild import distributed as kwbuild_distributed  # noqa: E402
from kwbuild import jsonio  # noqa: E402
from kwbuild.cache import ContentCache  # noqa: E402
from kwbuild.cli import main  # noqa: E402
from kwbuild.distributed import DaskPrefetcher  # noqa: E402
from kwbuild.extract import python as python_extractor  # noqa: E402

STDLIB_PACKAGES = ("json", "email", "importlib", "concurrent", "asyncio", "xml", "http", "urllib", "encodings",
                   "unittest")  # fmt: skip
EXTRA_FILES = {
    "bad/syntax.py": b"def broken(:\n    pass\n",
    "bad/latin1.py": b"# a comment in Latin-1: caf\xe9\nNAME = 'd\xe9j\xe0'\n",
    "dup/one.py": b"def same():\n    return 1\n",
    "dup/two.py": b"def same():\n    return 1\n",
}
BOOM = b"KWBUILD_TEST_BOOM"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", scheduler_kwargs={"dashboard": False}
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "src"
    stdlib = Path(sysconfig.get_path("stdlib"))
    for package in STDLIB_PACKAGES:
        shutil.copytree(stdlib / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for rel, data in EXTRA_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def local(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The reference: a local build of the tree (its output folder and summary)."""
    folder = tmp_path_factory.mktemp("local")
    return folder / "out", build(tree, folder / "out", folder / "cache", "-j", "1")


def build(root: Path, out: Path, cache: Path, *extra: str, expect: int = 0) -> dict[str, Any]:
    summary = out.parent / f"summary-{out.name}.json"
    args = ["build", str(root), "--out", str(out), "--cache", str(cache), "--summary-json", str(summary), "-q"]
    assert main([*args, *extra]) == expect
    result: dict[str, Any] = jsonio.read_json(summary)
    return result


def on_cluster(client: Any) -> list[str]:
    return ["--executor", "dask", "--scheduler", client.scheduler.address]


def batches_run(client: Any) -> int:
    """How many `extract_batch` tasks the scheduler has been given since it started."""

    def count(dask_scheduler: Any) -> int:
        prefix = dask_scheduler.task_prefixes.get("extract_batch")
        return 0 if prefix is None else sum(prefix.state_counts.values())

    result: int = client.run_on_scheduler(count)
    return result


def assert_same_tables(out: Path, reference: Path) -> None:
    rels = sorted(p.relative_to(reference) for p in (reference / "tables").rglob("*.json"))
    assert rels == sorted(p.relative_to(out) for p in (out / "tables").rglob("*.json"))
    match, mismatch, errors = filecmp.cmpfiles(reference, out, [str(rel) for rel in rels], shallow=False)
    assert (mismatch, errors) == ([], [])
    assert len(match) > 250


def cache_keys(cache: Path) -> set[str]:
    with diskcache.Cache(str(cache)) as entries:
        return set(entries.iterkeys())


def test_cluster_build_gives_the_local_tables_and_a_warm_cache_sends_nothing(
    client: Any, tree: Path, local: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    reference, expected = local
    sent = batches_run(client)
    summary = build(tree, tmp_path / "out", tmp_path / "cache", *on_cluster(client))
    assert batches_run(client) > sent
    assert_same_tables(tmp_path / "out", reference)
    assert {k: summary[k] for k in ("files", "parsed", "cache_hits", "errors")} == {
        k: expected[k] for k in ("files", "parsed", "cache_hits", "errors")
    }
    assert expected["cache_hits"] >= 1  # dup/two.py: the same key as dup/one.py (sent once)
    assert summary["errors"] >= 1
    assert cache_keys(tmp_path / "cache") == cache_keys(reference.parent / "cache")

    sent = batches_run(client)
    warm = build(tree, tmp_path / "out2", tmp_path / "cache", *on_cluster(client))
    assert (warm["parsed"], warm["cache_hits"]) == (0, summary["files"])
    assert batches_run(client) == sent
    assert_same_tables(tmp_path / "out2", reference)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    client: Any, tree: Path, local: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, expected = local
    killed: list[str] = []
    stored: Counter[str] = Counter()
    store, put_many = DaskPrefetcher._store, ContentCache.put_many

    def kill_then_store(self: DaskPrefetcher, *args: Any) -> None:
        if not killed:  # the first batch is back: kill a worker that is extracting another one
            busy = [address for address, keys in client.processing().items() if keys]
            pids = client.run(os.getpid, workers=busy[:1])
            for address, pid in pids.items():
                os.kill(pid, signal.SIGKILL)
                killed.append(address)
        store(self, *args)

    def counting_put_many(self: ContentCache, items: list[tuple[str, bytes]]) -> None:
        stored.update(key for key, _ in items)
        put_many(self, items)

    monkeypatch.setattr(kwbuild_distributed, "BATCH_FILES", 8)  # ~40 batches: both workers stay busy
    monkeypatch.setattr(DaskPrefetcher, "_store", kill_then_store)
    monkeypatch.setattr(ContentCache, "put_many", counting_put_many)
    summary = build(tree, tmp_path / "out", tmp_path / "cache", *on_cluster(client))
    assert killed
    assert_same_tables(tmp_path / "out", reference)
    assert (summary["parsed"], summary["cache_hits"]) == (expected["parsed"], expected["cache_hits"])
    assert stored and max(stored.values()) == 1
    assert set(stored) == cache_keys(tmp_path / "cache") == cache_keys(reference.parent / "cache")
    client.wait_for_workers(2, timeout=60)


class _Exploding:
    """The Python extractor, except that it raises on files holding BOOM."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __call__(self, data: bytes) -> dict[str, Any]:
        if BOOM in data:
            raise RuntimeError("boom")
        result: dict[str, Any] = self.original(data)
        return result


def _explode_on_marker() -> None:  # run on each worker, and here
    python_extractor.extract = _Exploding(python_extractor.extract)  # type: ignore[assignment]


def _restore_extractor() -> None:
    if isinstance(python_extractor.extract, _Exploding):
        python_extractor.extract = python_extractor.extract.original  # type: ignore[assignment]


def test_an_extractor_that_raises_on_a_worker_is_recorded_like_a_local_one(client: Any, tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "fine.py").write_text("def fine():\n    pass\n")
    (root / "boom.py").write_bytes(b"# " + BOOM + b"\nx = 1\n")
    client.run(_explode_on_marker)
    _explode_on_marker()
    try:
        cluster = build(root, tmp_path / "out", tmp_path / "cache", *on_cluster(client))
        here = build(root, tmp_path / "local", tmp_path / "cache-local", "-j", "1")
    finally:
        client.run(_restore_extractor)
        _restore_extractor()
    assert cluster == {**here, "seconds": cluster["seconds"]}
    table = jsonio.read_json(tmp_path / "out" / "tables" / "boom.py.json")
    assert table["errors"][0]["kind"] == "internal" and "boom" in table["errors"][0]["message"]
    assert (tmp_path / "out/tables/boom.py.json").read_bytes() == (tmp_path / "local/tables/boom.py.json").read_bytes()
    assert len(cache_keys(tmp_path / "cache")) == 1  # the failure is recorded, never cached


def test_an_unreachable_scheduler_is_one_line_and_exit_1(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["build", str(tree), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q",
                     "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kwbuild: error: cannot reach the Dask scheduler at tcp://127.0")
