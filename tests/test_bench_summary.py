"""bench/summary.py: the markdown table built from canned benchmark JSONs (nothing is run)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _summary():
    spec = importlib.util.spec_from_file_location("bench_summary", ROOT / "bench" / "summary.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_summary"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


CANNED = {
    "sampling": {"command": "x", "cpu": [
        {"sampler": "ddpm-1000", "frames": 16,
         "joint": {"calls": 1000, "wall_s": 200.0, "cpu_s": 100.0, "extrapolated": True}},
        {"sampler": "dpmpp-25", "frames": 16,
         "joint": {"calls": 25, "wall_s": 8.0, "cpu_s": 2.5, "extrapolated": False}},
    ]},
    "dreampose": {
        "dreampose_steps": 100, "calls_per_step": 3,
        "cpu_timing": {"frames": 16, "latent": [32, 24], "probe_frames": 1, "ddpm_probe_steps": 10,
                       "dreampose_shaped": {"calls": 4848, "wall_s": 300.0, "cpu_s": 150.0,
                                            "extrapolated": True},
                       "fashionflow_ddpm1000": {"calls": 1000, "wall_s": 200.0, "cpu_s": 100.0,
                                                "extrapolated": True},
                       "fashionflow_dpmpp25": {"calls": 25, "wall_s": 6.0, "cpu_s": 2.5,
                                               "extrapolated": False}},
        "paper_flops": {"frames": 70, "latent": [80, 64], "fashionflow_call_flops": 1.6e12,
                        "dreampose_shaped_call_flops": 2.0e10, "sd_unet_call_flops": 1.0e12,
                        "params": {"fashionflow_unet": 71.7e6, "dreampose_shaped_unet_2d": 56.8e6,
                                   "sd_unet": 860e6},
                        "dreampose_calls_per_video": 21210,
                        "dreampose_shaped_flops_per_video": 21210 * 2.0e10,
                        "sd_dreampose_flops_per_video": 21210 * 1.0e12,
                        "fashionflow_ddpm1000_flops_per_video": 1000 * 1.6e12,
                        "fashionflow_dpmpp25_flops_per_video": 25 * 1.6e12},
    },
    "loader": {"preset": "cpu", "frames": 16, "batch_size": 2, "threads": 1, "cached_clips_per_s": 200.0,
               "on_the_fly_clips_per_s": 1.6, "speedup": 125.0},
    "metrics": {"threads": 1, "i3d_clips_per_s": 0.25, "eval_size": 112, "eval": [
        {"n_fake": 8, "peak_mb": 1000.0, "seconds": 40.0, "fvd": 1.0},
        {"n_fake": 32, "peak_mb": 1010.0, "seconds": 70.0, "fvd": 1.0}]},
    "diagnostics": {"threads": 1, "sizes": [
        {"height": 128, "width": 96, "frames": 32,
         "analysis": {"seconds": 0.8, "cpu_seconds": 0.5, "frames_per_s": 40.0},
         "flow": {"seconds": 0.2, "cpu_seconds": 0.1, "frames_per_s": 160.0}},
        {"height": 640, "width": 512, "frames": 16,
         "analysis": {"seconds": 16.0, "cpu_seconds": 8.0, "frames_per_s": 1.0},
         "flow": {"seconds": 4.0, "cpu_seconds": 3.2, "frames_per_s": 4.0}}]},
    "fvd_sanity": {"size": 112, "halves": [8, 8], "synthetic": 8, "rows": {
        row: {"fvd": {"value": value, "ci_low": 0.5 * value, "ci_high": 2 * value, "family": "distribution",
                      "ratio": None, "random_init": True, "extractor": "i3d random-init"}}
        for row, value in (("A vs B", 20.0), ("fast", 25.0), ("reversed", 22.0), ("frozen", 40.0))}},
    "baselines": [
        {"model": "fashionflow", "params_M": {"official": {"unet": 71.67, "adapter": 1.0}, "cpu": {}},
         "s_per_step": 0.5, "batch_size": 2, "s_per_video": 4.0, "frames": 16, "flags": ["random|init"]},
        {"model": "static", "params_M": {}, "s_per_video": 0.01, "frames": 16, "flags": []},
    ],
}


def _write_run(tmp_path: Path, failed: str | None = None) -> Path:
    runs = {"prepare": {"command": "ffbench prepare --synthetic", "seconds": 1.0, "returncode": 0}}
    for name, data in CANNED.items():
        runs[name] = {"command": f"python bench/{name}.py --threads 1", "seconds": 1.0,
                      "returncode": 1 if name == failed else 0}
        if name != failed:
            (tmp_path / f"{name}.json").write_text(json.dumps(data))
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    return tmp_path


def _rows(table: str) -> list[list[str]]:
    lines = table.strip().splitlines()
    assert lines[0] == "| what | ratio / figure | measured values | command |"
    assert lines[1] == "| --- | --- | --- | --- |"
    # split on unescaped pipes only
    return [[c.strip() for c in line.replace("\\|", "\0").strip("|").split("|")] for line in lines[2:]]


def test_table_has_every_ratio_from_the_jsons_with_its_command(tmp_path):
    summary = _summary()
    runs = json.loads((_write_run(tmp_path) / "runs.json").read_text())
    rows = _rows(summary.markdown(summary.build_rows(tmp_path, runs)))
    by_what = {r[0]: r for r in rows}
    assert all(len(r) == 4 for r in rows), rows
    # 2 sampling + 2 wall + 3 FLOP + loader + I3D + memory + 2 diagnostics + FVD sanity + 2 models
    assert len(rows) == 15, [r[0] for r in rows]

    calls = next(r for w, r in by_what.items() if w.startswith("U-Net calls per video"))
    assert calls[1] == "40.0x" and calls[3] == "`python bench/sampling.py --threads 1`"
    time_row = next(r for w, r in by_what.items() if w.startswith("sampling time"))
    assert time_row[1] == "25.0x wall" and "(40.0x)" in time_row[2]  # 200/8 wall, 100/2.5 CPU

    wall = [r for w, r in by_what.items() if w.startswith("wall time, DreamPose-shaped")]
    assert [r[1] for r in wall] == ["1.50x", "50.0x"]  # 300/200, 300/6
    flops = [r for w, r in by_what.items() if w.startswith("FLOPs")]
    ratios = [r[1] for r in flops]
    assert ratios[0] == f"{21210 * 2.0e10 / 1.6e15:.2f}x"  # same widths vs DDPM-1000: 0.27x
    assert ratios[1] == f"{21210 * 2.0e10 / 4.0e13:.1f}x"  # vs DPM-Solver++-25: 10.6x
    assert ratios[2] == f"{21210 * 1.0e12 / 1.6e15:.1f}x" and "9.3x" in flops[2][0]  # SD U-Net, paper claim
    assert all(r[3] == "`python bench/dreampose.py --threads 1`" for r in wall + flops)

    assert next(r for w, r in by_what.items() if w.startswith("loader"))[1] == "125.0x"
    assert next(r for w, r in by_what.items() if w.startswith("I3D"))[1] == "0.25 clips/s"
    memory = next(r for w, r in by_what.items() if w.startswith("eval peak memory, N=32 / N=8"))
    assert memory[1] == "1.01x" and "1000 MB" in memory[2] and "1010 MB" in memory[2]
    speed = [r for w, r in by_what.items() if w.startswith("diagnostics speed")]
    assert [r[1] for r in speed] == ["40.0 frames/s wall (64.0 on CPU time)",
                                     "1.0 frames/s wall (2.0 on CPU time)"]
    assert "128x96" in speed[0][0] and "640x512" in speed[1][0]
    assert "forward flow alone 160.0 frames/s wall (320.0 on CPU time)" in speed[0][2]
    sanity = next(r for w, r in by_what.items() if w.startswith("FVD sanity"))
    assert sanity[1] == "fast 1.25x, reversed 1.10x, frozen 2.00x" and "random-init" in sanity[0]
    assert "halves of 8 and 8 videos" in sanity[0] and "A vs B 20.00" in sanity[2]
    ff = by_what["fashionflow: training and generation cost (cpu preset)"]
    assert ff[1] == "0.500 s/step (batch 2), 4.00 s/video"
    assert "official size unet 71.7M + adapter 1.0M" in ff[2]
    assert "random\0init" in ff[2]  # the pipe in a flag is escaped
    assert by_what["static: training and generation cost (cpu preset)"][1].startswith("not trained, 0.01")


@pytest.mark.parametrize("failed", ["dreampose", "baselines"])
def test_a_failed_step_gets_a_failed_row_and_the_others_stay(tmp_path, failed):
    summary = _summary()
    runs = json.loads((_write_run(tmp_path, failed) / "runs.json").read_text())
    rows = _rows(summary.markdown(summary.build_rows(tmp_path, runs)))
    failed_rows = [r for r in rows if r[1] == "FAILED"]
    assert len(failed_rows) == 1 and failed_rows[0][0] == failed and "exit 1" in failed_rows[0][2]
    assert any(r[0].startswith("loader") for r in rows)


def test_a_json_of_another_shape_is_reported_not_raised(tmp_path):
    summary = _summary()
    runs = json.loads((_write_run(tmp_path) / "runs.json").read_text())
    (tmp_path / "loader.json").write_text(json.dumps({"speedup": 3.0}))  # keys missing
    rows = _rows(summary.markdown(summary.build_rows(tmp_path, runs)))
    assert [r[1] for r in rows if r[0] == "loader"] == ["UNREADABLE"]


def test_from_json_prints_the_table_without_running_anything(tmp_path):
    _write_run(tmp_path)
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "summary.py"), "--from-json", str(tmp_path)],
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.startswith("| what | ratio / figure |") and "| 125.0x |" in out.stdout
    missing = subprocess.run([sys.executable, str(ROOT / "bench" / "summary.py"), "--from-json",
                              str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no runs.json" in missing.stderr
