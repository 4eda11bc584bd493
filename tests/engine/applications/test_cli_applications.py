"""The application subcommands: files written, one JSON line of figures, errors as one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main


def _json_line(capsys) -> dict:
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


def _png_size(path) -> tuple[int, int]:
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_inpaint_writes_grid_filmstrip_and_mse(tmp_path, capsys):
    assert main(["inpaint", "--n", "3", "--steps", "8", "--frames", "3", "--out", str(tmp_path)]) == 0
    out = _json_line(capsys)
    assert out["application"] == "inpaint" and out["preset"] == "inpaint_digits" and out["n"] == 3
    assert out["mse_after"] < out["mse_before"] and out["steps"] == 8
    w, h = _png_size(tmp_path / "grid.png")
    assert (w, h) == (2 * (3 * 30 + 2), 2 * (3 * 30 + 2))  # 3 rows (original, corrupted, filled) x 3 images
    assert _png_size(tmp_path / "filmstrip.png")[0] == 2 * (3 * 30 + 2)  # 3 frames per row
    assert np.load(tmp_path / "result.npy").shape == (3, 1, 28, 28)


def test_inpaint_reads_an_npy_file_and_a_model_path(tmp_path, capsys):
    from engine.applications.models import MODELS_DIR  # noqa: PLC0415

    images = np.full((2, 1, 28, 28), -1.0, np.float32)
    np.save(tmp_path / "x.npy", images)
    code = main(["inpaint", "--model", str(MODELS_DIR / "digits_convnet.safetensors"), "--images",
                 str(tmp_path / "x.npy"), "--mask", "left", "--steps", "2", "--out", str(tmp_path / "o")])
    assert code == 0
    out = _json_line(capsys)
    assert out["n"] == 2 and out["model"] == "digits_convnet"


def test_denoise_and_interpolate(tmp_path, capsys):
    assert main(["denoise", "--n", "4", "--out", str(tmp_path / "d")]) == 0
    d = _json_line(capsys)
    assert d["mse_after"] < d["mse_before"]
    assert main(["interpolate", "--pairs", "1", "--points", "4", "--refine-steps", "5",
                 "--out", str(tmp_path / "i")]) == 0
    i = _json_line(capsys)
    assert i["pairs"] == 1 and i["points"] == 4
    rows = (tmp_path / "i" / "energies.csv").read_text().splitlines()
    assert rows[0] == "pair,t,energy_linear,energy_refined" and len(rows) == 5


def test_ood_writes_histogram_csv_and_png(tmp_path, capsys):
    assert main(["ood", "--out-data", "noise", "--n", "40", "--bins", "8", "--out", str(tmp_path)]) == 0
    out = _json_line(capsys)
    assert out["out"] == "noise" and out["n_in"] == out["n_out"] == 40 and 0.5 < out["auroc"] <= 1.0
    rows = (tmp_path / "histogram.csv").read_text().splitlines()
    assert len(rows) == 9 and sum(int(r.split(",")[2]) for r in rows[1:]) == 40
    assert _png_size(tmp_path / "histogram.png") == (480, 240)


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["inpaint", "--preset", "ood_digits_vs_shapes", "--out", str(tmp_path)]) == 2
    assert "is a ood application" in capsys.readouterr().err
    assert main(["ood", "--model", "no_such_model", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "digits_convnet" in err
    assert main(["inpaint", "--mask", "blob", "--n", "1", "--out", str(tmp_path)]) == 2
    assert "unknown mask kind" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["inpaint", "denoise", "interpolate", "conditional", "ood", "texture",
                                     "compose"])
def test_a_negative_seed_is_a_usage_error_not_a_traceback(command, tmp_path, capsys):
    """NumPy's generators refuse negative seeds: --seed -1 ended in a ValueError traceback."""
    with pytest.raises(SystemExit) as done:
        main([command, "--seed", "-1", "--out", str(tmp_path)])
    assert done.value.code == 2 and "seed must be a whole number >= 0" in capsys.readouterr().err


def test_applications_lists_the_presets(capsys):
    assert main(["applications"]) == 0
    out = capsys.readouterr().out
    for name in ("inpaint_digits", "denoise_digits", "interpolate_digits", "ood_digits_vs_shapes"):
        assert name in out


@pytest.mark.parametrize("command", ["inpaint", "denoise", "interpolate", "conditional", "ood"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and "--out" in capsys.readouterr().out


def test_conditional_reports_agreement(tmp_path, capsys):
    assert main(["conditional", "--n-per-class", "1", "--steps", "5", "--classes", "1", "2",
                 "--out", str(tmp_path)]) == 0
    out = _json_line(capsys)
    assert out["classes"] == 2 and out["chance"] == pytest.approx(0.1) and set(out["agreement_per_class"]) == {"1", "2"}
    assert (tmp_path / "samples.png").is_file()
