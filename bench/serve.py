"""Benchmark `kwbuild serve` with wrk, side by side with nginx serving the same table files from disk.

Usage:
    python bench/serve.py [--out DIR] [--path TREE_PATH]... [--duration S] [--soak S] [--json FILE]
    python bench/serve.py servers      # uvicorn (httptools, uvloop) vs granian vs hypercorn, one minimal ASGI app

Needs `wrk` and `nginx` (Debian packages). Everything listens on 127.0.0.1 only; every run is bounded in time.
`--out` is a built output folder (default: the torch corpus built into bench/results/work/serve-out). For each
path: kwbuild `/api/files/<path>` (table + links, merged), kwbuild `/api/blobs/<hash>` and nginx
`/tables/<path>.json`, same wrk settings (-t2 -c32 --latency, keep-alive), one worker each. Then a soak run
(`--soak`, default 60 s) samples the server's RSS (process tree) every second: memory should stay flat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH / "corpus" / "torch-py"
WORK = BENCH / "results" / "work"
DEFAULT_PATHS = ["torch/nn/modules/linear.py", "torch/_inductor/ir.py"]
WRK = ["wrk", "-t2", "-c32", "--latency"]
NGINX_CONF = """worker_processes 1;
daemon off;
{user}pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  sendfile on; tcp_nopush on; keepalive_requests 1000000; etag on;
  server {{ listen 127.0.0.1:{port}; root {root}; location / {{ default_type application/json; }} }}
}}
"""
MINIMAL_APP = """
BODY = b'{"x":"' + b"a" * 4600 + b'"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def background(command: list[str], port: int, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, stopped (SIGTERM, then SIGKILL) when the block ends."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    try:
        wait_for(port)
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process: terminate, then kill if it does not end within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


def wrk(url: str, seconds: int) -> dict[str, float]:
    """Requests/s, p50 and p99 latency (ms) and transfer of one wrk run."""
    text = subprocess.run([*WRK, f"-d{seconds}s", url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": rps,
        "p50_ms": _latency(text, "50%"),
        "p99_ms": _latency(text, "99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _latency(text: str, quantile: str) -> float:
    value, unit = re.search(rf"{quantile}\s+([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def tree_rss_kb(pid: int) -> int:
    """Summed VmRSS of a process and its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
    family, total = {pid}, 0
    for child, parent in sorted(parents.items()):
        if parent in family:
            family.add(child)
    for member in family:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{member}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total


def soak(url: str, pid: int, seconds: int) -> dict[str, Any]:
    """One long wrk run while RSS is sampled every second."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            samples.append(tree_rss_kb(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = wrk(url, seconds)
    finally:
        done.set()
        sampler.join()
    tail = samples[len(samples) // 2 :] or samples
    return {
        **result,
        "seconds": seconds,
        "rss_mb_first": samples[0] / 1024,
        "rss_mb_last": samples[-1] / 1024,
        "rss_mb_max": max(samples) / 1024,
        "rss_mb_median_2nd_half": statistics.median(tail) / 1024,
    }


def ensure_output(out: Path | None) -> Path:
    if out is not None:
        return out
    out = WORK / "serve-out"
    if not (out / "index.json").is_file():
        if not CORPUS.is_dir():
            raise SystemExit(f"no --out given and no corpus at {CORPUS} (run bench/run.py once to fetch it)")
        kwbuild = [sys.executable, "-m", "kwbuild.cli", "build", str(CORPUS), "--out", str(out)]
        subprocess.run([*kwbuild, "--cache", str(WORK / "serve-cache"), "-q"], check=True)
    return out


def run_files(args: argparse.Namespace) -> dict[str, Any]:
    out = ensure_output(args.out).resolve()
    manifest = json.loads((out / "index.json").read_bytes())
    hashes = {entry["path"]: entry["hash"] for entry in manifest["files"]}
    results: dict[str, Any] = {"paths": {}}
    with tempfile.TemporaryDirectory(prefix="kwbuild-bench-") as tmp:
        kw_port, ng_port = free_port(), free_port()
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, port=ng_port, root=out))
        serve = [sys.executable, "-m", "kwbuild.serve", "--out", str(out), "--port", str(kw_port)]
        with background(serve, kw_port) as server, background(["nginx", "-c", str(conf)], ng_port):
            for path in args.path:
                kw = f"http://127.0.0.1:{kw_port}"
                row = {
                    "kwbuild_files": wrk(f"{kw}/api/files/{path}", args.duration),
                    "kwbuild_blobs": wrk(f"{kw}/api/blobs/{hashes[path]}", args.duration),
                    "nginx": wrk(f"http://127.0.0.1:{ng_port}/tables/{path}.json", args.duration),
                    "bytes": (out / "tables" / f"{path}.json").stat().st_size,
                }
                row["ratio_files"] = row["kwbuild_files"]["rps"] / row["nginx"]["rps"]
                row["ratio_blobs"] = row["kwbuild_blobs"]["rps"] / row["nginx"]["rps"]
                results["paths"][path] = row
            if args.soak:
                results["soak"] = soak(f"http://127.0.0.1:{kw_port}/api/files/{args.path[0]}", server.pid, args.soak)
    return results


def run_servers(args: argparse.Namespace) -> dict[str, Any]:
    commands = {
        "uvicorn": [
            "uvicorn",
            "minimal:app",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--port",
        ],
        "granian": ["granian", "--interface", "asgi", "--no-ws", "--log-level", "warning", "minimal:app", "--port"],
        "hypercorn": ["hypercorn", "-k", "uvloop", "minimal:app", "-b"],
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kwbuild-asgi-") as tmp:
        (Path(tmp) / "minimal.py").write_text(MINIMAL_APP)
        for name, command in commands.items():
            if shutil.which(command[0]) is None:
                continue
            port = free_port()
            target = f"127.0.0.1:{port}" if name == "hypercorn" else str(port)
            with background([*command, target], port, cwd=tmp):
                results[name] = wrk(f"http://127.0.0.1:{port}/", args.duration)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["files", "servers"], default="files")
    parser.add_argument("--out", type=Path, help="a built output folder (default: the torch corpus, built)")
    parser.add_argument("--path", action="append", help=f"tree paths to fetch (default: {DEFAULT_PATHS})")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default: 10)")
    parser.add_argument("--soak", type=int, default=60, help="seconds of the memory run (0: none; default: 60)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.path = args.path or DEFAULT_PATHS
    if shutil.which("wrk") is None or (args.mode == "files" and shutil.which("nginx") is None):
        raise SystemExit("needs wrk and nginx: apt-get install -y wrk nginx")
    results = run_files(args) if args.mode == "files" else run_servers(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
