"""Fixtures for the server tests (registered in conftest.py): small bundles trained once per
session, API keys, a real uvicorn server on 127.0.0.1, and a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import FAST, MOLECULES, make_table, molecule_config

def _pg_bin() -> Path:
    """$HEALTHNN_PG_BIN, else the newest Debian PostgreSQL (/usr/lib/postgresql/N/bin)."""
    if os.environ.get("HEALTHNN_PG_BIN"):
        return Path(os.environ["HEALTHNN_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def serve_bundles(tmp_path_factory) -> dict[str, Path]:
    """Three tiny bundles: a table classifier ('heart'), an image classifier ('xray') and a
    molecule regressor ('esol')."""
    import torch
    from image_helpers import image_config, image_folder

    from healthnn.pipeline import train

    root = tmp_path_factory.mktemp("serve-bundles")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        make_table().to_csv(root / "patients.csv", index=False)
        quiet = {"log": lambda m: None}
        no_report = {"enabled": False}
        train({"task": "classification",
               "data": {"train": str(root / "patients.csv"), "target": "outcome",
                        "features": ["age", "sex", "bmi", "smoker"], "id": "patient"},
               "model": {"hidden": [16]}, "train": {**FAST, "epochs": 4},
               "eval": {"bootstrap": 10}, "report": no_report}, root / "heart", **quiet)
        cfg = image_config(image_folder(root / "images", n_per_class=10))
        cfg["report"] = no_report
        train(cfg, root / "xray", **quiet)
        cfg = molecule_config(MOLECULES / "esol_small.csv", "logS", "fingerprint_mlp")
        cfg["report"] = no_report
        train(cfg, root / "esol", **quiet)
    finally:
        torch.set_num_threads(n)
    return {"heart": root / "heart", "xray": root / "xray", "esol": root / "esol",
            "images": root / "images"}


@dataclass
class Keys:
    path: Path
    full: str       # predict, explain, deid
    predict: str    # predict only


@pytest.fixture(scope="session")
def api_keys(tmp_path_factory) -> Keys:
    from healthnn.serve.keys import KeyStore

    path = tmp_path_factory.mktemp("keys") / "api_keys.json"
    store = KeyStore(path)
    return Keys(path, store.add("clinic", ["predict", "explain", "deid"]),
                store.add("lab-system", ["predict"]))


@dataclass
class Running:
    url: str
    app: object
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.audit.close()


def start_server(app) -> Running:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) in a background thread."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return Running(f"http://127.0.0.1:{port}", app, server, thread)


@pytest.fixture(scope="session")
def server(serve_bundles, api_keys, tmp_path_factory):
    """The three bundles served over HTTP with a SQLite audit log."""
    from healthnn.serve import build_app
    from healthnn.serve.app import Limits

    audit = tmp_path_factory.mktemp("audit") / "audit.sqlite"
    app = build_app([serve_bundles[k] for k in ("heart", "xray", "esol")],
                    keys_path=api_keys.path, audit_db=audit,
                    limits=Limits(max_body_mb=1.0, rate_per_minute=100_000, timeout_s=60,
                                  max_unpacked_mb=4.0))
    running = start_server(app)
    yield running
    running.stop()


# -- PostgreSQL ------------------------------------------------------------------------------
def _pg_user() -> tuple[list[str], str | None]:
    """A command prefix that runs PostgreSQL as an unprivileged user (it refuses root)."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            import pwd

            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", user, "--"], user
    return [], "none"


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (Debian's postgresql package; .ci/run
    installs it). Skips, saying why, only where the binaries are missing or cannot run."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not (initdb.is_file() and pg_ctl.is_file()):
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install "
                    "postgresql; .ci/run does this)")
    prefix, user = _pg_user()
    if user == "none":
        pytest.skip("running as root without an unprivileged user to run PostgreSQL")
    root = Path(tempfile.mkdtemp(prefix="healthnn-pg-"))
    data = root / "data"
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    port = free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run([*prefix, str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, env=env)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = subprocess.run([*prefix, str(pg_ctl), "-D", str(data), "-o", opts, "-w", "-t",
                              "60", "-l", str(root / "log"), "start"], capture_output=True,
                             env=env)
    if started.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr.decode()} {log}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, env=env)
        shutil.rmtree(root, ignore_errors=True)
