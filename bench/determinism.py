"""Same seed, same bytes: five `prepare --synthetic` runs of a tiny set must write identical files.

    python bench/determinism.py [--kill-seed N] [--threads-too 2] [--keep DIR]

Runs `ffbench prepare --synthetic` with the tiny settings below into five fresh folders:

    plain-1, plain-2, plain-3   uninterrupted runs
    killed-1                    killed with SIGKILL at a random moment (uniform over the time plain-1
                                spent working, after its imports), then the same command run again
    killed-2                    killed with SIGKILL once a random number (1-9) of the 10 per-video
                                samples are cached, then the same command run again
                                (both random draws come from --kill-seed)

and prints the sha256 of every file that makes up the dataset (the rendered videos, the verified source
copies, every shard, manifest and skipped.csv) for each run, then whether all five agree. Exit 1 if any
file differs, is missing from a run, or a temporary file is left behind.

`--threads-too N` adds a sixth run with `--threads N` (the five use 1): it reports which files that
setting changes, and checks that resuming a one-thread folder with `--threads N` is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# 8 training videos (the tiny VAE holds one out) and 2 test videos of 20 frames at 48x40; 0.15 MB shards
# so each split has several shards. About 20 s a run on one free core.
TINY = ["--n-train", "8", "--n-test", "2", "--frames", "20", "--height", "48", "--width", "40",
        "--vae-steps", "30", "--shard-size-mb", "0.15", "--threads", "1", "--seed", "0"]
# What a dataset is made of; caches under shards/.work and logs are not compared (they are how a run got
# there, not what it made), but every path here must exist in every run.
COMPARED = re.compile(r"^(generated/.*\.mp4|source/videos/.*\.mp4|source/fashion_\w+\.txt|"
                      r"shards/\w+/(shard-\d+\.tar|manifest\.json|skipped\.csv))$")
TEMPORARY = re.compile(r"\.tmp|\.part$|\.old$")


def command(out: Path, extra: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "ffbench.cli", "prepare", "--synthetic", "--quiet", "--out", str(out),
            *TINY, *(extra or [])]


def environment() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=path)


def run(cmd: list[str]) -> tuple[float, float]:
    """Run `cmd` to the end; (seconds until its work started, total seconds). The work starts when
    prepare records its settings in DATA/prepare.json, after the imports. Exits naming the command if it
    fails."""
    out = Path(cmd[cmd.index("--out") + 1])
    start, started = time.monotonic(), None
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=environment(), stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            if started is None and (out / "prepare.json").exists():
                started = time.monotonic() - start
            time.sleep(0.05)
        total = time.monotonic() - start
        if proc.returncode != 0:
            log.seek(0)
            sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{log.read()[-3000:]}")
    return (started if started is not None else 0.0), total


def progress(out: Path) -> str:
    """What a killed run had written: rendered videos, source copies, cached samples, shards, manifests."""
    def count(pattern: str) -> int:
        return sum(1 for _ in out.glob(pattern))

    return (f"{count('generated/videos/*.mp4')} rendered, {count('source/videos/*.mp4')} copied, "
            f"tiny VAE {'trained' if (out / 'encoders' / 'vae').is_dir() else 'not yet trained'}, "
            f"{count('shards/.work/*/*/*.tar')} samples, {count('shards/*/shard-*.tar')} shards, "
            f"{count('shards/*/manifest.json')} manifests")


def kill_at(cmd: list[str], seconds: float | None = None, samples: int | None = None) -> str:
    """Start `cmd` and SIGKILL it after `seconds`, or once `samples` per-video samples are cached (the
    stage where most files are written); returns what it had written by then."""
    out = Path(cmd[cmd.index("--out") + 1])
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    start = time.monotonic()
    while proc.poll() is None:
        due = (seconds is not None and time.monotonic() - start >= seconds) or (
            samples is not None and sum(1 for _ in out.glob("shards/.work/*/*/*.tar")) >= samples)
        if due:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return f"at {time.monotonic() - start:.1f} s: {progress(out)}"
        time.sleep(0.02)
    return "finished before the kill"


def hashes(out: Path) -> dict[str, str]:
    """{path relative to `out`: sha256} of every compared file."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and COMPARED.match(rel):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def leftovers(out: Path) -> list[str]:
    return [str(p.relative_to(out)) for p in out.rglob("*") if TEMPORARY.search(p.name)]


def compare(results: dict[str, dict[str, str]]) -> list[str]:
    """Print one line per file (its sha256, or every run's when they differ); returns the differing files."""
    names = list(results)
    paths = sorted(set().union(*results.values()))
    differ = []
    for rel in paths:
        values = [results[n].get(rel, "missing") for n in names]
        if len(set(values)) == 1:
            print(f"  {values[0]}  {rel}")
        else:
            differ.append(rel)
            print(f"  DIFFERS  {rel}")
            for n, v in zip(names, values, strict=True):
                print(f"      {v}  {n}")
    return differ


def threads_check(root: Path, reference: dict[str, str], threads: int) -> None:
    """A run with --threads N: which files change; and a resume of a one-thread folder under N is refused."""
    out = root / f"threads-{threads}"
    _, seconds = run(command(out, ["--threads", str(threads)]))
    other = hashes(out)
    changed = sorted(rel for rel in reference if other.get(rel) != reference[rel])
    print(f"\n--threads {threads} ({seconds:.0f} s): {len(changed)} of {len(reference)} files differ from "
          "the one-thread runs")
    for rel in changed:
        print(f"    {rel}")
    refused = subprocess.run(command(root / "plain-1", ["--threads", str(threads)]), cwd=ROOT,
                             env=environment(), capture_output=True, text=True)
    message = (refused.stdout + refused.stderr).strip()
    ok = refused.returncode == 1 and "Traceback" not in message and "--threads 1" in message
    print(f"resuming plain-1 with --threads {threads}: exit {refused.returncode}, "
          f"{'refused with the command to use' if ok else 'NOT refused as expected'}:")
    print("    " + message.replace("\n", "\n    "))
    if not ok:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-seed", type=int, default=None,
                        help="seed of the kill moments (default: random, printed)")
    parser.add_argument("--threads-too", type=int, default=None, metavar="N",
                        help="also run with --threads N and check a resume under N is refused")
    parser.add_argument("--keep", type=Path, default=None, help="keep the five datasets in this folder")
    args = parser.parse_args()
    kill_seed = args.kill_seed if args.kill_seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(kill_seed)

    with tempfile.TemporaryDirectory(prefix="ffbench-determinism-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        shown = ["ffbench", "prepare", "--synthetic", "--quiet", "--out", "DIR", *TINY]
        print(f"command: {shlex.join(shown)}")
        print(f"kill moments drawn with --kill-seed {kill_seed}; datasets in {root}")
        results: dict[str, dict[str, str]] = {}
        window = None  # (work starts, run ends) in plain-1: the kills fall uniformly inside it
        for name in ("plain-1", "plain-2", "plain-3"):
            started, seconds = run(command(root / name))
            window = window or (started, seconds)
            results[name] = hashes(root / name)
            print(f"{name}: {seconds:.1f} s (work from {started:.1f} s), {len(results[name])} files")
        # killed-1 at a random moment of the work (most of it is the tiny VAE's training); killed-2 at a
        # random point of the per-video stage, after k of the 10 samples
        kills = {"killed-1": {"seconds": rng.uniform(*window)}, "killed-2": {"samples": rng.randint(1, 9)}}
        for name, when in kills.items():
            cmd = command(root / name)
            where = kill_at(cmd, **when)
            _, seconds = run(cmd)
            results[name] = hashes(root / name)
            aim = f"{when['seconds']:.1f} s" if "seconds" in when else f"{when['samples']} samples"
            print(f"{name}: SIGKILL aimed at {aim}, {where}; rerun {seconds:.1f} s, "
                  f"{len(results[name])} files")

        print("\nsha256 of every video, shard, manifest and skipped.csv:")
        differ = compare(results)
        left = {n: leftovers(root / n) for n in results if leftovers(root / n)}
        for name, files in left.items():
            print(f"temporary files left in {name}: {', '.join(files)}")
        same = not differ and not left
        verdict = "ALL EQUAL" if same else f"NOT EQUAL ({len(differ)} file(s) differ)"
        print(f"\n{verdict}: {len(results['plain-1'])} files x {len(results)} runs")
        if args.threads_too:
            threads_check(root, results["plain-1"], args.threads_too)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
