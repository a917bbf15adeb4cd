"""Shared fixtures: the repository's scenes and the command-line program to compare with.

The CLI is `$QDSIM_CLI`, else `$CARGO_TARGET_DIR/release/qdsim-gpu`, else the repository's
`target/release/qdsim-gpu` (built by `cargo build --release` or `cargo test --release`).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENES = REPO / "scenes"


def cli_path() -> Path:
    cands = []
    if os.environ.get("QDSIM_CLI"):
        cands.append(Path(os.environ["QDSIM_CLI"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "qdsim-gpu")
    cands.append(REPO / "target" / "release" / "qdsim-gpu")
    for c in cands:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(f"the qdsim-gpu program was not found (looked at {', '.join(map(str, cands))}): build it with `cargo build --release` or set QDSIM_CLI")


@pytest.fixture(scope="session")
def cli():
    return cli_path()


@pytest.fixture(scope="session")
def scenes():
    return SCENES


def run_cli(cli, *args, cwd=None):
    env = dict(os.environ)
    env.setdefault("RAYON_NUM_THREADS", os.environ.get("RAYON_NUM_THREADS", ""))
    if not env["RAYON_NUM_THREADS"]:
        del env["RAYON_NUM_THREADS"]
    return subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture
def solve_cli(cli, tmp_path):
    """Run `qdsim-gpu solve SCENE --out tmp --quiet --backend cpu` and return results.json."""

    def go(scene, *extra):
        out = tmp_path / (Path(scene).stem + ".out")
        p = run_cli(cli, "solve", scene, "--out", out, "--quiet", *extra)
        assert p.returncode in (0, 3), p.stderr
        return json.loads((out / "results.json").read_text()), out

    return go
