"""The shared content cache: builds (`python -m kwbuild.cli build`) and the real server (`python -m kwbuild.serve`)
as processes on loopback, plus fake remotes (down, silent, garbage, wrong entries) that must only ever cost a
warning and local parsing, never a wrong table."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
import pytest

from bench.serve import stop_process
from kwbuild import jsonio
from kwbuild.cache import ContentCache
from kwbuild.remote import READ_TIMEOUT, TOKEN_ENV, RemoteCache, entry_problem
from tests.test_serve import free_port

TOKEN = "ci-token-2718"
FILES = 30  # more than MIN_JOBS_FOR_POOL: with -j 2 the lookups and pushes run in forked pool workers


# ---------------------------------------------------------------- helpers: trees, builds, servers


def make_tree(root: Path) -> None:
    for i in range(FILES - 1):
        body = "".join(
            f"\n\ndef f{i}_{k}(x: int = {k}) -> int:\n    '''Step {k}.'''\n    return x\n" for k in range(i % 5 + 1)
        )
        path = root / f"pkg{i % 3}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'"""Module {i}."""\nimport os\n\n\nclass C{i}:\n    value = {i}\n{body}', encoding="utf-8")
    (root / "native" / "vec.hpp").parent.mkdir(parents=True, exist_ok=True)
    (root / "native" / "vec.hpp").write_text("#include <vector>\nnamespace v { struct Vec { int n; }; }\n")


@dataclass
class Build:
    summary: dict[str, Any]
    stderr: str
    seconds: float

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if "remote cache" in line]


def run_build(root: Path, out: Path, cache: Path, *extra: str, token: str | None = None, jobs: int = 1) -> Build:
    """`kwbuild build` as its own process; fails the test unless it exits 0."""
    summary = out.with_name(out.name + "-summary.json")
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    command = [sys.executable, "-m", "kwbuild.cli", "build", str(root), "--out", str(out), "--cache", str(cache)]
    command += ["--summary-json", str(summary), "-q", "-j", str(jobs), *extra]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return Build(jsonio.read_json(summary), result.stderr, time.monotonic() - started)


def tables(out: Path) -> dict[str, bytes]:
    top = out / "tables"
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*.json"))}


def entries(cache: Path) -> dict[str, bytes]:
    with diskcache.Cache(str(cache)) as opened:
        return {key: opened[key] for key in opened.iterkeys()}


@dataclass
class Server:
    port: int
    cache: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, target: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, target, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()


@contextlib.contextmanager
def kwbuild_serve(out: Path, cache: Path, token: str | None) -> Iterator[Server]:
    """The real server sharing `cache`, with push `token` (None: pushes disabled)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    command = [sys.executable, "-m", "kwbuild.serve", "--out", str(out), "--cache", str(cache), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    server = Server(port, cache)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            with contextlib.suppress(OSError):
                if server.request("GET", "/api/health")[0] == 200:
                    break
            assert time.monotonic() < deadline, "the server did not come up within 20 s"
            time.sleep(0.1)
        yield server
    finally:
        stop_process(process)


@dataclass
class Reference:
    """A tree and what a plain local build makes of it."""

    root: Path
    out: Path
    tables: dict[str, bytes]
    entries: dict[str, bytes]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    base = tmp_path_factory.mktemp("reference")
    make_tree(base / "src")
    plain = run_build(base / "src", base / "out", base / "cache")
    assert plain.summary["parsed"] == FILES
    return Reference(base / "src", base / "out", tables(base / "out"), entries(base / "cache"))


@pytest.fixture
def server(reference: Reference, tmp_path: Path) -> Iterator[Server]:
    with kwbuild_serve(reference.out, tmp_path / "shared", TOKEN) as running:
        yield running


def assert_built_locally(build: Build, reference: Reference, out: Path, cache: Path) -> None:
    """Everything parsed here, the tables those of a plain build, and nothing but correct entries kept."""
    assert build.summary["parsed"] == FILES and build.summary["cache_hits"] == 0
    assert tables(out) == reference.tables
    assert entries(cache) == reference.entries


# ---------------------------------------------------------------- the shared cache working


def test_ci_fills_the_cache_and_a_developer_parses_nothing(
    reference: Reference, server: Server, tmp_path: Path
) -> None:
    ci = run_build(reference.root, tmp_path / "ci-out", tmp_path / "ci-cache", "--remote-cache", server.url,
                   "--remote-cache-push", token=TOKEN, jobs=2)  # fmt: skip
    assert ci.summary["parsed"] == FILES and not ci.warnings, ci.stderr
    assert entries(server.cache) == reference.entries

    dev = run_build(reference.root, tmp_path / "dev-out", tmp_path / "dev-cache", "--remote-cache", server.url, jobs=2)
    assert (dev.summary["parsed"], dev.summary["cache_hits"]) == (0, FILES) and not dev.warnings, dev.stderr
    assert tables(tmp_path / "dev-out") == reference.tables
    assert entries(tmp_path / "dev-cache") == reference.entries  # what came from the remote is kept locally

    alone = run_build(reference.root, tmp_path / "alone-out", tmp_path / "dev-cache")  # in process, no remote
    assert (alone.summary["parsed"], alone.summary["cache_hits"]) == (0, FILES)


def test_in_process_builds_push_and_fetch_too(reference: Reference, server: Server, tmp_path: Path) -> None:
    ci = run_build(reference.root, tmp_path / "ci-out", tmp_path / "ci-cache", "--remote-cache", server.url,
                   "--remote-cache-push", token=TOKEN, jobs=1)  # fmt: skip
    assert ci.summary["parsed"] == FILES and not ci.warnings, ci.stderr
    dev = run_build(reference.root, tmp_path / "dev-out", tmp_path / "dev-cache", "--remote-cache", server.url)
    assert (dev.summary["parsed"], dev.summary["cache_hits"]) == (0, FILES) and not dev.warnings, dev.stderr
    assert tables(tmp_path / "dev-out") == reference.tables


def test_entry_endpoint(reference: Reference, server: Server) -> None:
    key, value = sorted(reference.entries.items())[0]
    assert server.request("GET", f"/api/cache/{key}")[0] == 404
    push = jsonio.dumps({"entries": [{"key": key, "table": jsonio.loads(value)}]})
    auth = {"Authorization": f"Bearer {TOKEN}", "Content_Type": "application/json"}
    assert server.request("POST", "/api/cache", push, **auth)[2] == b'{"known":0,"stored":1}\n'
    assert server.request("POST", "/api/cache", push, **auth)[2] == b'{"known":1,"stored":0}\n'
    status, headers, body = server.request("GET", f"/api/cache/{key}")
    assert (status, body) == (200, value)
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert server.request("GET", f"/api/cache/{key}", If_None_Match=headers["etag"])[0] == 304
    for bad in ("nothex:python@1:schema2", f"{key}x", f"{key}/more", key.replace("schema", "schemaX")):
        assert server.request("GET", f"/api/cache/{bad}")[0] == 400, bad
    status, headers, _ = server.request("GET", "/api/cache")
    assert (status, headers["allow"]) == (405, "POST")


# ---------------------------------------------------------------- pushes the server refuses


def test_pushes_without_or_with_a_wrong_token_are_refused(reference: Reference, server: Server, tmp_path: Path) -> None:
    key, value = sorted(reference.entries.items())[0]
    push = jsonio.dumps({"entries": [{"key": key, "table": jsonio.loads(value)}]})
    json_type = {"Content_Type": "application/json"}
    status, headers, _ = server.request("POST", "/api/cache", push, **json_type)
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="kwbuild cache"')
    assert server.request("POST", "/api/cache", push, Authorization=f"Basic {TOKEN}", **json_type)[0] == 401
    assert server.request("POST", "/api/cache", push, Authorization="Bearer nope", **json_type)[0] == 403

    wrong = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", server.url,
                      "--remote-cache-push", token="nope")  # fmt: skip
    assert len(wrong.warnings) == 1 and "refused the push (HTTP 403: wrong push token)" in wrong.warnings[0]
    assert_built_locally(wrong, reference, tmp_path / "out", tmp_path / "cache")
    assert entries(server.cache) == {}


def test_a_server_without_a_token_takes_no_push(reference: Reference, tmp_path: Path) -> None:
    with kwbuild_serve(reference.out, tmp_path / "shared", None) as server:
        build = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", server.url,
                          "--remote-cache-push", token=TOKEN)  # fmt: skip
    assert len(build.warnings) == 1 and "HTTP 403: pushes are disabled" in build.warnings[0]
    assert_built_locally(build, reference, tmp_path / "out", tmp_path / "cache")
    assert entries(tmp_path / "shared") == {}


def _mutated(value: bytes, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    table: dict[str, Any] = jsonio.loads(value)
    change(table)
    return table


def test_the_server_checks_every_pushed_entry(reference: Reference, server: Server) -> None:
    (key, value), (other, _) = sorted(reference.entries.items())[:2]
    good = {"key": key, "table": jsonio.loads(value)}
    auth = {"Authorization": f"Bearer {TOKEN}", "Content_Type": "application/json"}
    bad_entries = [
        {"key": other, "table": jsonio.loads(value)},  # the table of another file
        {"key": key, "table": _mutated(value, lambda t: t.update(symbols="x"))},
        {"key": key, "table": _mutated(value, lambda t: t.update(path="a.py"))},
        {"key": key.replace("@1:", "@2:"), "table": jsonio.loads(value)},
        {"key": key.replace("schema2", "schema3"), "table": jsonio.loads(value)},
    ]
    for bad in bad_entries:
        status, _, body = server.request("POST", "/api/cache", jsonio.dumps({"entries": [good, bad]}), **auth)
        assert status == 422 and b"nothing was stored" in body, body
    for body in (b"not json", b"[]", b'{"entries": [1]}', b'{"entries": [{"key": 1, "table": {}}]}'):
        assert server.request("POST", "/api/cache", body, **auth)[0] == 400, body
    assert (
        server.request("POST", "/api/cache", b"{}", Authorization=f"Bearer {TOKEN}", Content_Type="text/plain")[0]
        == 415
    )
    assert entries(server.cache) == {}


def test_an_oversized_push_is_refused_before_its_body_is_read(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/cache HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {1 << 30}\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")


# ---------------------------------------------------------------- remotes that fail


def test_a_remote_that_is_down(reference: Reference, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    build = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", url)
    assert len(build.warnings) == 1 and "cannot be reached (connection refused)" in build.warnings[0], build.stderr
    assert_built_locally(build, reference, tmp_path / "out", tmp_path / "cache")


def test_a_remote_that_is_down_costs_one_warning_per_process(reference: Reference, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    build = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", url,
                      "--remote-cache-push", token=TOKEN, jobs=2)  # fmt: skip
    assert 1 <= len(build.warnings) <= 3, build.stderr  # the main process and two pool workers at most
    assert_built_locally(build, reference, tmp_path / "out", tmp_path / "cache")


def test_a_remote_that_never_answers(reference: Reference, tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        build = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", url)
    assert len(build.warnings) == 1 and "no answer in time" in build.warnings[0], build.stderr
    assert build.seconds < READ_TIMEOUT + 15
    assert_built_locally(build, reference, tmp_path / "out", tmp_path / "cache")


class FakeRemote(http.server.ThreadingHTTPServer):
    """Answers every GET with `answer(key)`: (status, body)."""

    def __init__(self, answer: Callable[[str], tuple[int, bytes]]) -> None:
        self.answer = answer
        self.asked = 0
        super().__init__(("127.0.0.1", 0), _FakeHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeRemote

    def do_GET(self) -> None:
        self.server.asked += 1
        status, body = self.server.answer(self.path.rpartition("/")[2])
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def fake_remote(answer: Callable[[str], tuple[int, bytes]]) -> Iterator[FakeRemote]:
    remote = FakeRemote(answer)
    thread = threading.Thread(target=remote.serve_forever, daemon=True)
    thread.start()
    try:
        yield remote
    finally:
        remote.shutdown()
        remote.server_close()
        thread.join(timeout=10)


def _answers(reference: Reference) -> dict[str, tuple[Callable[[str], tuple[int, bytes]], str]]:
    values = sorted(reference.entries.values())

    def other_file(key: str) -> bytes:  # a real, well-formed table of the key's extractor: of another file
        table = jsonio.loads(next(v for v in values if jsonio.loads(v)["hash"] != key[:32]))
        name, version = key.split(":")[1].split("@")
        table["extractor"] = {"name": name, "version": int(version)}
        return jsonio.dumps(table)

    def right_hash_bad_symbols(key: str) -> bytes:
        table = jsonio.loads(other_file(key))
        table.update(hash=key[:32], symbols=[{"name": "x"}])
        return jsonio.dumps(table)

    return {
        "garbage": (lambda key: (200, b"\x00\xffnot json at all"), "is not JSON"),
        "wrong_hash": (lambda key: (200, other_file(key)), "content hash differs from the key's"),
        "bad_structure": (lambda key: (200, right_hash_bad_symbols(key)), "malformed symbols"),
        "server_error": (lambda key: (503, b'{"error": "overloaded"}'), "answered HTTP 503"),
        "teapot": (lambda key: (418, b""), "answered HTTP 418"),
    }


@pytest.mark.parametrize("kind", ["garbage", "wrong_hash", "bad_structure", "server_error", "teapot"])
def test_a_remote_answering_wrong_entries_is_never_used(reference: Reference, tmp_path: Path, kind: str) -> None:
    answer, reason = _answers(reference)[kind]
    with fake_remote(answer) as remote:
        build = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", remote.url)
    assert remote.asked == 1  # the circuit breaker: asked once, then never again in this build
    assert len(build.warnings) == 1 and reason in build.warnings[0], build.stderr
    assert_built_locally(build, reference, tmp_path / "out", tmp_path / "cache")


def test_misses_are_no_failure(reference: Reference, tmp_path: Path) -> None:
    with fake_remote(lambda key: (404, b'{"error": "no entry"}')) as remote:
        build = run_build(reference.root, tmp_path / "out", tmp_path / "cache", "--remote-cache", remote.url)
    assert remote.asked == FILES and not build.warnings, build.stderr
    assert_built_locally(build, reference, tmp_path / "out", tmp_path / "cache")


# ---------------------------------------------------------------- the entry check and the client object


def test_entry_problem(reference: Reference) -> None:
    key, value = sorted(reference.entries.items())[0]
    assert entry_problem(key, jsonio.loads(value)) is None
    changes: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (lambda t: t.update(hash="0" * 32), "hash differs"),
        (lambda t: t.update(schema_version=1), "schema version or extractor"),
        (lambda t: t.update(extractor={"name": "cpp", "version": 1}), "schema version or extractor"),
        (lambda t: t.pop("lines"), "missing or extra"),
        (lambda t: t.update(module="m"), "missing or extra"),
        (lambda t: t.update(size=True), "wrong type"),
        (lambda t: t.update(size=-1), "wrong type"),
        (lambda t: t.update(all=[1]), "wrong type"),
        (lambda t: t.update(partial=None), "wrong type"),
        (lambda t: t.update(imports=[{"module": "os"}]), "malformed imports"),
        (
            lambda t: t.update(errors=[{"kind": "x", "message": "m", "line": 1, "col": 0, "extra": 1}]),
            "malformed errors",
        ),
        (lambda t: t["symbols"][0].update(extra=1), "malformed symbols"),
        (lambda t: t["symbols"][0].update(line="5"), "line is not a count"),
        (lambda t: t["symbols"][0].update(line=1 << 32), "line is not a count"),
        (lambda t: t["symbols"][0].update(line=-1), "line is not a count"),
    ]
    for change, reason in changes:
        problem = entry_problem(key, _mutated(value, change))
        assert problem is not None and reason in problem, (reason, problem)
    assert entry_problem(key, [1]) is not None
    assert entry_problem("x" + key, jsonio.loads(value)) == "malformed key"


def test_the_client_pickles_without_its_connection(tmp_path: Path) -> None:
    remote = RemoteCache(ContentCache(tmp_path / "cache"), "http://127.0.0.1:9/prefix/", push=True, token=TOKEN)
    copy = pickle.loads(pickle.dumps(remote))
    assert (copy.url, copy.push, copy.token, copy.folder) == ("http://127.0.0.1:9/prefix", True, TOKEN, remote.folder)
    assert copy._connection is None and copy._fetched == {}
    assert copy.get("0" * 32 + ":python@1:schema2") is None  # nothing listens on port 9: a miss, and the breaker
    assert copy._off
