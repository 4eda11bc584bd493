"""Kill ``ebm-studio train`` (``python -m engine.cli train``) with SIGKILL at random moments and
check the run folder after each kill: every checkpoint file present is complete, the newest
one is at least as new as the last iteration the process reported (a report is printed only
after its checkpoint is on disk), no temporary files pile up, and ``--resume`` goes on from it.
Used by ``test_kill_resume.py`` (20 kills) and ``tools/kill_resume.py`` (as many as asked).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.training import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120.0  # s to wait for a process's first report on a loaded machine

CONFIG = """\
name = "kill-test"
[data]
name = "8gaussians"
n = 512
[model]
preset = ""
layers = [{type = "linear", in_features = 2, out_features = 16}, {type = "swish"},
          {type = "linear", in_features = 16, out_features = 1}]
[sampler]
n_steps = 5
[buffer]
capacity = 256
[train]
iterations = ITERATIONS
batch_size = 32
backend = "numpy"
eval_every = 50
samples_every = 25
checkpoint_every = 1
"""


@dataclass
class KillLog:
    kills: int = 0
    finished_before_kill: int = 0
    reported: list[int] = field(default_factory=list)  # last iteration each process reported
    newest: list[int] = field(default_factory=list)  # newest checkpoint after each kill
    problems: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # why each process that was not killed ended


def write_config(folder: Path, iterations: int) -> Path:
    path = folder / "kill.toml"
    path.write_text(CONFIG.replace("ITERATIONS", str(iterations)))
    return path


def _command(config: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "engine.cli", "train", str(config), "--out", str(run), "--resume"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _last_iteration(stdout: bytes) -> int:
    last = 0
    for line in stdout.decode(errors="replace").splitlines():
        try:
            last = max(last, int(json.loads(line)["iteration"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by the kill
    return last


def _read_reports(proc: subprocess.Popen, count: int) -> bytes:
    """The first ``count`` report lines of ``proc`` (fewer if it ends first)."""
    lines = []
    while len(lines) < count:
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT)
        if not ready:
            raise RuntimeError("the training process printed nothing")
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    return b"".join(lines)


def kill_once(config: Path, run: Path, rng: np.random.Generator, max_delay: float) -> tuple[int, str]:
    """Start a resumed run, SIGKILL it at a random moment; (last reported iteration, and if it ended
    before the kill, its exit status and the end of its stderr, else "").

    The moment: one time in five while it starts (imports, opens the folder, reads checkpoints);
    otherwise after a random number of reports (0-8) plus a random delay up to ``max_delay``
    seconds, so it lands anywhere in an iteration (sampling, the update, the checkpoint write)
    and the run advances a few iterations per kill however fast the machine is.
    """
    errors = tempfile.TemporaryFile()  # kept, so a process that ends on its own can say why
    proc = subprocess.Popen(_command(config, run), cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=errors)
    seen = b""
    try:
        if rng.random() < 0.2:  # a random moment before its first report (or at it, if it is quick)
            select.select([proc.stdout], [], [], float(rng.uniform(0.0, 0.8)))
        else:
            seen = _read_reports(proc, 1 + int(rng.integers(0, 9)))
            time.sleep(float(rng.uniform(0.0, max_delay)))
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=STARTUP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    why = ""
    if finished:
        errors.seek(0)
        why = f"exit status {proc.returncode}: " + errors.read().decode(errors="replace")[-1500:]
    errors.close()
    return _last_iteration(seen + out), why


def check_folder(run: Path, reported: int) -> tuple[int, list[str]]:
    """(newest checkpoint iteration, problems) of a run folder right after a kill."""
    problems = []
    newest = 0
    for path in ckpt.list_checkpoints(run / "checkpoints"):
        try:
            _, meta = ckpt.read_checkpoint(path)
        except Exception as exc:  # noqa: BLE001 - any damage is the finding
            problems.append(f"{path.name} is damaged: {exc}")
            continue
        newest = max(newest, int(meta["iteration"]))
    if newest < reported:
        problems.append(f"the process reported iteration {reported} but the newest checkpoint is {newest}")
    temps = [p.name for p in run.rglob("*.tmp")]
    if len(temps) > 4:  # one per file being written at the kill, at most; stale ones are removed
        problems.append(f"temporary files pile up: {temps}")
    return newest, problems


def kill_many(config: Path, run: Path, kills: int, seed: int, max_delay: float = 0.02) -> KillLog:
    """``kills`` start-and-kill cycles on the same run folder, checking it after each."""
    rng = np.random.default_rng(seed)
    log = KillLog()
    for _ in range(kills):
        reported, ended = kill_once(config, run, rng, max_delay)
        log.kills += not ended
        log.finished_before_kill += bool(ended)
        if ended:
            log.ended.append(ended)
        newest, problems = check_folder(run, reported)
        log.reported.append(reported)
        log.newest.append(newest)
        log.problems += problems
    return log


def finish(config: Path, run: Path) -> subprocess.CompletedProcess:
    """Resume the run to its end, uninterrupted."""
    return subprocess.run(_command(config, run), cwd=ROOT, env=_env(), capture_output=True, timeout=600)
