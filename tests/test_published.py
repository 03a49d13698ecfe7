"""Published UBC Fashion numbers: ours stand beside them only when protocol, task, data and extractor
agree."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from ffbench.cli import main
from ffbench.published import comparison_table, published_results, real_set_kind


def _real(tmp_path, source: str):
    split = tmp_path / source / "shards" / "test"
    split.mkdir(parents=True)
    (split / "manifest.json").write_text(json.dumps({"settings": {"source": source}}))
    return tmp_path / source


def _ours(real, sha: str = "a" * 64, value: float = 1234.5) -> pd.DataFrame:
    return pd.DataFrame([{"method": "fashionflow", "metric": "fvd-stylegan-v", "value": value,
                          "ci_low": 1200.0, "ci_high": 1300.0, "extractor_sha256": sha, "real": str(real),
                          "time": "2026-12-01T00:00:00+00:00"}])


def _row(table: pd.DataFrame, method: str, metric: str) -> pd.Series:
    rows = table[(table["method"] == method) & (table["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_the_data_file_holds_the_papers_tables():
    pub = published_results()
    t1 = pub[(pub["table"] == "Table 1") & (pub["metric"] == "fvd")].set_index("method")["value"]
    assert t1.to_dict() == {"ImaGINator": "3383.2", "cINNs": "3326.0", "Poke": "3514.5",
                            "FashionFlow": "1659.5"}
    assert set(pub["task"]) == {"image-to-video", "pose-guided"}
    assert (pub["paper"] != "").all() and (pub["table"] != "").all()


def test_ours_stands_beside_the_paper_only_when_everything_matches(tmp_path):
    official = _real(tmp_path, "official")
    table = comparison_table(_ours(official))
    fvd = _row(table, "FashionFlow", "fvd")
    assert fvd["ffbench"] == "1234" and fvd["why not beside ours"] == ""
    assert "not published" in _row(table, "FashionFlow", "is")["why not beside ours"]
    assert "no ffbench row" in _row(table, "FashionFlow", "vfid")["why not beside ours"]
    assert "pose-guided" in _row(table, "Animate-X", "fvd")["why not beside ours"]


def test_random_init_or_synthetic_numbers_never_stand_beside_the_paper(tmp_path):
    random_init = comparison_table(_ours(_real(tmp_path, "official"), sha="random-init-seed0"))
    assert "random-init" in _row(random_init, "FashionFlow", "fvd")["why not beside ours"]
    assert _row(random_init, "FashionFlow", "fvd")["ffbench"] == "-"
    synthetic = comparison_table(_ours(_real(tmp_path, "synthetic")))
    assert "synthetic" in _row(synthetic, "FashionFlow", "fvd")["why not beside ours"]
    assert real_set_kind(tmp_path / "nowhere") == "unknown"


def test_leaderboard_published_prints_the_table_even_without_rows(tmp_path):
    result = CliRunner().invoke(main, ["leaderboard", "--dir", str(tmp_path), "--published"])
    assert result.exit_code == 0, result.output
    assert "Published results on UBC Fashion" in result.output and "3383.2" in result.output
