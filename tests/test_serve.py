"""The real server (`python -m kwbuild.serve`, granian) on a free loopback port, spoken to over HTTP."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash

from bench.serve import stop_process
from kwbuild import jsonio
from kwbuild.cli import main
from kwbuild.link import merge_links
from kwbuild.model import SCHEMA_VERSION
from tests.test_query import SOURCES

SECRET = "TOP-SECRET-3141"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return jsonio.loads(self.body)


@dataclass
class Server:
    """A running `kwbuild serve` subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    out: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, target: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, target, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def get_json(self, target: str) -> object:
        reply = self.request(target)
        assert reply.status == 200, (target, reply.status, reply.body[:200])
        return reply.json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(out: Path) -> Iterator[Server]:
    """Start the real server on a free loopback port; stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "kwbuild.serve", "--out", str(out), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(process, port, out)
    try:
        _wait_until_up(server)
        yield server
    finally:
        stop_process(process)


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            stderr = server.process.stderr.read().decode() if server.process.stderr else ""
            raise AssertionError(f"the server exited with {server.process.returncode}: {stderr}")
        with contextlib.suppress(OSError):
            if server.request("/api/health").status == 200:
                return
        time.sleep(0.1)
    raise AssertionError("the server did not come up within 20 s")


def write_tree(root: Path, sources: dict[str, str]) -> None:
    for rel, text in sources.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def build(root: Path, out: Path, cache: Path) -> None:
    assert main(["build", str(root), "--out", str(out), "--cache", str(cache), "-q"]) == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("serve")
    write_tree(base / "src", SOURCES)
    build(base / "src", base / "out", base / "cache")
    (base / "secret.json").write_text(f'{{"secret": "{SECRET}"}}', encoding="utf-8")
    (base / "secret.md").write_text(f"# {SECRET}\n", encoding="utf-8")
    with running_server(base / "out") as running:
        yield running


# ---------------------------------------------------------------- endpoints


def test_health_names_the_build(server: Server) -> None:
    health = server.get_json("/api/health")
    manifest = (server.out / "index.json").read_bytes()
    assert health == {
        "status": "ok",
        "version": health["version"],
        "schema_version": SCHEMA_VERSION,
        "files": 4,  # type: ignore[index]
        "manifest_hash": xxhash.xxh3_128_hexdigest(manifest),
    }


def test_manifest_is_index_json(server: Server) -> None:
    reply = server.request("/api/manifest")
    assert reply.body == (server.out / "index.json").read_bytes()
    assert reply.headers["content-type"] == "application/json"


def test_file_is_its_table_with_links_merged(server: Server) -> None:
    table = jsonio.read_json(server.out / "tables/shop/cart.py.json")
    links = jsonio.read_json(server.out / "links/shop/cart.py.json")
    served = server.get_json("/api/files/shop/cart.py")
    assert served == merge_links(table, links)
    assert served["imports"][0]["resolved_path"] == "shop/pricing.py"  # type: ignore[index]
    assert [e["path"] for e in served["imported_by"]] == ["app.py", "shop/__init__.py"]  # type: ignore[index]
    assert server.request("/api/files/shop/nope.py").status == 404
    assert server.request("/api/files/shop").status == 404


def test_blob_is_the_path_independent_table(server: Server) -> None:
    table = jsonio.read_json(server.out / "tables/shop/pricing.py.json")
    blob = server.get_json(f"/api/blobs/{table['hash']}")
    assert blob == {k: v for k, v in table.items() if k not in ("path", "module")}
    assert server.request("/api/blobs/" + "0" * 32).status == 404
    for bad in ("ABC", table["hash"].upper(), table["hash"] + "0", "g" * 32, table["hash"] + "/x"):
        reply = server.request(f"/api/blobs/{bad}")
        assert reply.status in (400, 404) and "error" in reply.json()  # type: ignore[operator]


def test_symbol_search(server: Server) -> None:
    page = server.get_json("/api/symbols?q=Cart")
    assert [(r["path"], r["qualname"]) for r in page["results"]] == [  # type: ignore[index]
        ("shop/cart.py", "Cart"),
        ("shop/pricing.py", "CART"),
    ]
    classes = server.get_json("/api/symbols?q=Cart*&kind=class")
    assert [r["qualname"] for r in classes["results"]] == ["Cart", "CartItem"]  # type: ignore[index]
    assert server.get_json("/api/symbols?q=Cart.add")["total"] == 1  # type: ignore[index]
    seen, offset = [], 0
    while offset is not None:
        page = server.get_json(f"/api/symbols?q=*&limit=2&offset={offset}")
        seen += page["results"]  # type: ignore[index]
        offset = page["next_offset"]  # type: ignore[index]
    assert len(seen) == page["total"] > 4  # type: ignore[index]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "q=",
        "q=x&limit=0",
        "q=x&limit=1001",
        "q=x&limit=abc",
        "q=x&offset=-1",
        "q=x&kind=Class!",
        "q=x&kind=",
        "q=x&mode=fuzzy",
        "q=" + "x" * 257,
        "q=a%00b",
        "q=%ff%fe",
        "q=" + "x" * 3000,
    ],
)
def test_symbol_search_refuses_bad_parameters(server: Server, query: str) -> None:
    reply = server.request(f"/api/symbols?{query}")
    assert reply.status == 400 and "error" in reply.json()  # type: ignore[operator]


def test_modules_and_folders(server: Server) -> None:
    module = server.get_json("/api/modules/shop.cart")
    assert module["path"] == "shop/cart.py" and module["file"]["lines"] == 17  # type: ignore[index]
    assert [e["path"] for e in module["imported_by"]] == ["app.py", "shop/__init__.py"]  # type: ignore[index]
    assert server.request("/api/modules/shop.nope").status == 404
    root = server.get_json("/api/folders")
    assert root["folders"] == [{"path": "shop", "name": "shop", "files": 3, "summary": "A tiny shop."}]  # type: ignore[index]
    assert [f["path"] for f in root["files"]] == ["app.py"]  # type: ignore[index]
    shop = server.get_json("/api/folders/shop")
    assert [f["name"] for f in shop["files"]] == ["__init__.py", "cart.py", "pricing.py"]  # type: ignore[index]
    assert server.request("/api/folders/nope").status == 404


def test_openapi_document(server: Server) -> None:
    document = server.get_json("/openapi.json")
    assert document["openapi"].startswith("3.1")  # type: ignore[index]
    assert {
        "/api/files/{path}",
        "/api/blobs/{hash}",
        "/api/symbols",
        "/api/manifest",
        "/api/modules/{module}",
        "/api/folders",
        "/api/folders/{path}",
        "/api/health",
    } <= set(document["paths"])  # type: ignore[index]


# ---------------------------------------------------------------- HTTP semantics


def test_etag_and_if_none_match(server: Server) -> None:
    first = server.request("/api/files/app.py")
    etag = first.headers["etag"]
    assert etag == f'"{xxhash.xxh3_128_hexdigest(first.body)}"'
    assert first.headers["cache-control"] == "no-cache"
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = server.request("/api/files/app.py", headers={"If-None-Match": header})
        assert (again.status, again.body, again.headers["etag"]) == (304, b"", etag)
    assert server.request("/api/files/app.py", headers={"If-None-Match": '"stale"'}).status == 200


def test_gzip_and_brotli_when_asked(server: Server) -> None:
    plain = server.request("/openapi.json")
    zipped = server.request("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "accept-encoding"
    assert gzip.decompress(zipped.body) == plain.body and len(zipped.body) < len(plain.body)
    assert zipped.headers["etag"] != plain.headers["etag"]
    refused = server.request("/openapi.json", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.body == plain.body
    small = server.request("/api/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    brotli = pytest.importorskip("brotli")
    br = server.request("/openapi.json", headers={"Accept-Encoding": "gzip, br"})
    assert br.headers["content-encoding"] == "br" and brotli.decompress(br.body) == plain.body


def test_head_has_the_headers_without_the_body(server: Server) -> None:
    get = server.request("/api/files/shop/cart.py")
    head = server.request("/api/files/shop/cart.py", method="HEAD")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-length"] == str(len(get.body)) and head.headers["etag"] == get.headers["etag"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(server: Server, method: str) -> None:
    reply = server.request("/api/files/app.py", method=method)
    assert reply.status == 405 and reply.headers["allow"] == "GET, HEAD"
    assert (server.out / "tables/app.py.json").is_file()


@pytest.mark.parametrize(
    "target",
    [
        "/api/files/../secret.json",
        "/api/files/../../secret.json",
        "/api/files/%2e%2e/secret.json",
        "/api/files/%2E%2E/%2e%2e/secret.json",
        "/api/files/..%2fsecret.json",
        "/api/files/%2e%2e%2fsecret.json",
        "/api/files/..%5csecret.json",
        "/api/files/..\\secret.json",
        "/api/files//etc/passwd",
        "/api/files/%2fetc%2fpasswd",
        "/api/files/shop/./cart.py",
        "/api/files/shop/cart.py%00",
        "/api/files/%c0%ae%c0%ae/secret.json",
        "/api/files/shop%2f..%2f..%2fsecret.json",
        "/docs/../secret.md",
        "/docs/%2e%2e/secret.md",
        "/docs/..%2f..%2fsecret.md",
        "/docs/%2e%2e%2f%2e%2e%2fsecret.md",
        "/static/../index.json",
        "/static/%2e%2e%2fpage.html",
        "/api/folders/..",
        "/api/folders/%2e%2e",
        "/api/modules/..%2f..",
        "/api/blobs/..%2f..%2fsecret",
        "/docs/shop/../../../secret.md",
        "/api/files/" + "a/" * 3000 + "x.py",
    ],
)
def test_traversal_is_refused(server: Server, target: str) -> None:
    reply = server.request(target)
    assert reply.status in (400, 404), (target, reply.status)
    assert SECRET.encode() not in reply.body and "error" in reply.json()  # type: ignore[operator]


def test_raw_nul_and_over_long_urls(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /api/files/app.py\x00.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = sock.recv(65536)
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"404"), answer[:100]
    assert server.request("/api/files/" + "x" * 5000).status == 400
    assert server.request("/api/symbols?q=" + "x" * 5000).status == 400
    huge = server.request("/api/files/" + "x" * 200_000)
    assert huge.status in (400, 404, 414)  # granian refuses the largest before the app sees them (414)


def test_symlinks_out_of_the_output_folder_are_not_followed(server: Server) -> None:
    table = server.out / "tables/shop/pricing.py.json"
    saved = table.read_bytes()
    page = server.out / "docs/leak.md"
    try:
        table.unlink()
        table.symlink_to(server.out.parent / "secret.json")
        page.symlink_to(server.out.parent / "secret.md")
        time.sleep(0.3)
        for target in ("/api/files/shop/pricing.py", "/docs/leak.md"):
            reply = server.request(target)
            assert reply.status == 404 and SECRET.encode() not in reply.body
    finally:
        table.unlink()
        table.write_bytes(saved)
        page.unlink()


# ---------------------------------------------------------------- the browsable view


def test_pages_as_html(server: Server) -> None:
    home = server.request("/")
    assert home.status == 302 and home.headers["location"] == "/docs/index.md"
    index = server.request("/docs/index.md")
    assert index.status == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in index.headers["content-security-policy"]
    cart = server.request("/docs/shop/cart.py_docs.md").body.decode()
    assert '<a id="sym-Cart"></a>' in cart and '<a id="sym-Cart.add"></a>' in cart
    assert 'href="pricing.py_docs.md#sym-price_of"' in cart and 'src="/static/app.js"' in cart
    pricing = server.request("/docs/shop/pricing.py_docs.md").body.decode()
    assert "<b>" not in pricing and "&lt;b&gt;name&lt;/b&gt;" in pricing
    assert server.request("/docs/shop/nope.md").status == 404
    assert server.request("/docs/shop/cart.py").status == 404
    assert server.request("/static/app.js").headers["content-type"].startswith("text/javascript")


# ---------------------------------------------------------------- rebuilds while serving


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    write_tree(tmp_path / "src", SOURCES)
    build(tmp_path / "src", tmp_path / "out", tmp_path / "cache")
    with running_server(tmp_path / "out") as running:
        yield running, tmp_path


def _poll(server: Server, target: str, wanted: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted.encode() in server.request(target).body:
            return
        time.sleep(0.05)
    raise AssertionError(f"{wanted!r} never appeared in {target}")


def test_a_rebuild_is_picked_up_without_restart(live: tuple[Server, Path]) -> None:
    server, base = live
    before = server.get_json("/api/health")
    assert server.get_json("/api/symbols?q=discount")["total"] == 0  # type: ignore[index]
    write_tree(
        base / "src",
        {
            "shop/pricing.py": SOURCES["shop/pricing.py"] + "\n\ndef discount(x):\n    return x\n",
            "shop/extra.py": '"""New."""\n',
        },
    )
    build(base / "src", base / "out", base / "cache")
    _poll(server, "/api/symbols?q=discount", '"qualname":"discount"')
    _poll(server, "/api/files/shop/pricing.py", '"discount"')
    _poll(server, "/api/folders/shop", "extra.py")
    _poll(server, "/docs/shop/pricing.py_docs.md", "sym-discount")
    assert server.get_json("/api/health") != before
    assert server.get_json("/api/files/shop/extra.py")["docstring"] == "New."  # type: ignore[index]


def _round_sources(round_: int) -> dict[str, str]:
    """Edits of one rebuild round: pricing.py and 40 other modules grow and change every round."""
    body = "".join(f"\n\ndef f{round_}_{i}(x):\n    return {'x' * (round_ * 40 + i)!r}\n" for i in range(60))
    sources = {"shop/pricing.py": SOURCES["shop/pricing.py"] + body}
    sources |= {f"shop/gen/m{i}.py": f"from shop.pricing import f{round_}_1\n{body}" for i in range(40)}
    return sources


def test_a_build_running_while_serving_never_shows_a_half_written_file(live: tuple[Server, Path]) -> None:
    server, base = live
    targets = [
        "/api/files/shop/pricing.py",
        "/api/files/shop/gen/m7.py",
        "/api/manifest",
        "/api/symbols?q=f*",
        "/api/modules/shop.pricing",
        "/api/folders/shop/gen",
        "/docs/shop/pricing.py_docs.md",
    ]
    failures: list[str] = []
    etags: set[str] = set()
    counts = [0]
    stop = threading.Event()

    def hammer(target: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        while not stop.is_set():
            connection.request("GET", target, headers={"Accept-Encoding": "gzip"})
            response = connection.getresponse()
            body = response.read()
            counts[0] += 1
            if response.getheader("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if target.endswith("pricing.py"):
                etags.add(response.getheader("etag") or "")
            try:
                assert response.status == 200, response.status
                assert body.endswith(b"</html>\n") if target.startswith("/docs/") else jsonio.loads(body)
            except (AssertionError, ValueError) as error:
                failures.append(f"{target}: {error!r} {body[:80]!r}")
        connection.close()

    write_tree(base / "src", _round_sources(0))
    build(base / "src", base / "out", base / "cache")
    _poll(server, "/api/folders/shop/gen", "m39.py")
    threads = [threading.Thread(target=hammer, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(1, 7):
            write_tree(base / "src", _round_sources(round_))
            build(base / "src", base / "out", base / "cache")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    assert not failures, failures[:5]
    assert counts[0] > 200 and len(etags) >= 3
    _poll(server, "/api/symbols?q=f6_59", '"qualname":"f6_59"')


# ---------------------------------------------------------------- the OpenAPI document, checked by schemathesis


def test_schemathesis_against_openapi(server: Server, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis")
    command = [
        sys.executable,
        "-c",
        "from schemathesis.cli import schemathesis; schemathesis()",
        "run",
        f"{server.base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--workers",
        "1",
        "--report-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.split("SUMMARY")[-1].lower()
    # POST /api/cache (a push) needs a token this server does not have: schemathesis warns that auth failed
    assert "passed" in summary and "failed" not in summary.replace("authentication failed", "")
