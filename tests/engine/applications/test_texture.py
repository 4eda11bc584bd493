"""Texture synthesis: a canvas's energy is the sum over positions, the built-in texture and its PNG,
synthesis with the shipped texture model moves noise towards the texture's statistics, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.applications.models import MODELS_DIR, open_model
from engine.applications.preset import load_application
from engine.applications.texture import (
    BUILTIN_TEXTURE_PNG,
    canvas_net,
    is_fully_convolutional,
    receptive_field,
    synthesize,
    texture_distance,
)
from engine.cli import main
from engine.data import load_dataset
from engine.data.builtin_texture import make_texture_crops, texture_image
from engine.errors import ConfigError
from engine.models.energy_net import EnergyNet
from tests.gradcheck import check_net_gradients


def conv(c, o, k, s=1):
    return {"type": "conv2d", "in_channels": c, "out_channels": o, "kernel_size": k, "stride": s, "padding": 0}


def test_pointwise_net_energy_is_the_sum_over_pixels():
    """1x1 kernels: E(canvas) = sum over pixels of w2 . swish(W1 v + b1) + b2, written out by hand."""
    net = EnergyNet({"input_shape": [2, 3, 3], "layers": [conv(2, 4, 1), {"type": "swish"}, conv(4, 1, 1),
                                                          {"type": "global_sum"}]}, seed=1, dtype=np.float64)
    big = canvas_net(net, (7, 9))
    x = np.random.default_rng(2).uniform(-1, 1, (3, 2, 7, 9))
    w1, b1 = net.layers[0].params["weight"][:, :, 0, 0], net.layers[0].params["bias"]
    w2, b2 = net.layers[2].params["weight"][0, :, 0, 0], net.layers[2].params["bias"][0]
    expected = np.zeros(3)
    for n in range(3):
        for i in range(7):
            for j in range(9):
                h = w1 @ x[n, :, i, j] + b1
                expected[n] += w2 @ (h / (1.0 + np.exp(-h))) + b2
    np.testing.assert_allclose(big.energy(x), expected, rtol=1e-12)


@pytest.mark.parametrize("layers,field,jump", [
    ([conv(2, 3, 3), {"type": "swish"}, conv(3, 2, 2), {"type": "elu"}, conv(2, 1, 1)], 4, 1),
    ([conv(2, 3, 4, 2), {"type": "swish"}, conv(3, 1, 3)], 8, 2),
])
def test_canvas_energy_is_the_sum_of_its_windows(layers, field, jump):
    """A net whose input is one receptive field scores a canvas as the sum over its windows
    (every ``jump`` pixels): E(canvas) = sum_p E_window(canvas at p)."""
    small = EnergyNet({"input_shape": [2, field, field], "layers": [*layers, {"type": "global_sum"}]}, seed=3,
                      dtype=np.float64)
    assert small.shapes[-2][1:] == (1, 1) and receptive_field(small) == field
    h, w = field + 3 * jump, field + 2 * jump
    x = np.random.default_rng(4).standard_normal((2, 2, h, w))
    windows = [x[:, :, i:i + field, j:j + field] for i in range(0, h - field + 1, jump)
               for j in range(0, w - field + 1, jump)]
    assert len(windows) == 12
    np.testing.assert_allclose(canvas_net(small, (h, w)).energy(x), sum(small.energy(v) for v in windows),
                               rtol=1e-11)
    check_net_gradients(canvas_net(small, (h, w)), x[:1].copy(), max_entries=60)


def test_canvas_net_shares_parameters_and_refuses_what_it_cannot_do():
    net = EnergyNet({"input_shape": [1, 6, 6], "layers": [conv(1, 2, 3), {"type": "relu"}, conv(2, 1, 1),
                                                          {"type": "global_sum"}]}, seed=0)
    assert is_fully_convolutional(net) and canvas_net(net, 6) is net
    big = canvas_net(net, (10, 12))
    assert big.input_shape == (1, 10, 12)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 10, 12)).astype(np.float32)
    before = big.energy(x)
    net.layers[2].params["bias"] += 1.0  # one shared array: the canvas net sees the change
    np.testing.assert_allclose(big.energy(x), before + 8 * 10, rtol=1e-5)  # 8 x 10 output positions
    with pytest.raises(ConfigError, match="smaller than the model's 6x6"):
        canvas_net(net, (5, 12))
    with pytest.raises(ConfigError, match="size must be"):
        canvas_net(net, (10, 0))
    flat = EnergyNet({"input_shape": [1, 6, 6], "layers": [conv(1, 2, 3), {"type": "flatten"},
                                                           {"type": "linear", "in_features": 32, "out_features": 1}]})
    assert not is_fully_convolutional(flat)
    with pytest.raises(ConfigError, match="not fully convolutional"):
        canvas_net(flat, 12)
    with pytest.raises(ConfigError, match="not fully convolutional"):
        synthesize(flat, size=12, n_steps=2)


# --- the built-in texture ------------------------------------------------------------------------


def test_builtin_texture_png_is_the_generated_image():
    from PIL import Image  # noqa: PLC0415

    tex = texture_image()
    assert tex.shape == (1, 128, 128) and tex.dtype == np.float32 and tex.min() >= -1 and tex.max() <= 1
    np.testing.assert_array_equal(tex, texture_image())
    png = np.asarray(Image.open(BUILTIN_TEXTURE_PNG))
    np.testing.assert_array_equal(png, np.rint((tex[0] + 1) / 2 * 255).astype(np.uint8))
    # cobblestones: dark mortar lines (measured: 29% of the pixels below -0.75) between lighter stones
    assert 0.2 < np.mean(tex < -0.75) < 0.4 and 0.2 < np.mean(tex > 0.0) < 0.4


def test_builtin_texture_dataset_is_random_crops():
    tr, va = load_dataset({"name": "builtin_texture", "n": 50, "size": 24, "seed": 1})
    assert (len(tr), len(va)) == (45, 5) and tr.input_shape == (1, 24, 24) and tr.y is None
    assert tr.value_range == (-1.0, 1.0)
    windows = np.lib.stride_tricks.sliding_window_view(texture_image()[0], (24, 24)).reshape(-1, 24 * 24)
    for crop in tr.x[:5, 0]:
        assert np.any(np.all(windows == crop.reshape(1, -1), axis=1))  # a window of the texture
    x1, _ = make_texture_crops(20, seed=1)
    assert not np.array_equal(x1, make_texture_crops(20, seed=2)[0])
    np.testing.assert_array_equal(x1, make_texture_crops(20, seed=1)[0])
    with pytest.raises(ConfigError, match="Unknown setting"):
        load_dataset({"name": "builtin_texture", "mode": "rgb"})


def test_texture_distance_tells_the_texture_from_noise():
    tex = texture_image()
    crops, _ = make_texture_crops(8, seed=5, size=64)
    noise = np.random.default_rng(0).uniform(-1, 1, (2, 1, 64, 64))
    same, other = texture_distance(crops, tex), texture_distance(noise, tex)
    assert same["spectrum"] < 0.1 and same["histogram"] < 0.05
    assert other["spectrum"] > 1.0 and other["histogram"] > 0.25


# --- the shipped texture model ---------------------------------------------------------------------


def test_shipped_model_is_small_fully_convolutional_and_preset_ready():
    assert (MODELS_DIR / "texture_convnet.safetensors").stat().st_size < 1_000_000
    opened = open_model("texture_convnet")
    assert opened.dataset == "builtin_texture" and opened.input_shape == (1, 32, 32)
    assert is_fully_convolutional(opened.model) and receptive_field(opened.model) == 24
    preset = load_application("texture_builtin")
    assert preset.kind == "texture" and preset.model == "texture_convnet"


def test_synthesis_moves_noise_towards_the_texture():
    """From uniform noise, 100 Langevin steps on a 48x48 canvas: the energy falls and the log power
    spectrum of the canvas comes close to the texture's (measured 1.28 -> 0.23-0.26 over seeds 0-3).
    The grey-level histogram distance does not improve (0.30 -> 0.32-0.38): the synthesised stones are
    lighter and more uniform than the texture's, so it is not asserted."""
    result = synthesize(open_model("texture_convnet"), size=48, n=2, n_steps=100, n_frames=3, seed=1)
    assert result.canvas.shape == (2, 1, 48, 48) and result.frames.shape == (3, 1, 48, 48)
    assert list(result.frame_steps) == [0, 50, 100] and result.settings["margin"] == 24
    assert result.energies[-1] < result.energies[1] < result.energies[0]
    assert result.canvas.min() >= -1.0 and result.canvas.max() <= 1.0
    tex = texture_image()
    start = texture_distance(result.frames[:1], tex)
    end = texture_distance(result.canvas, tex)
    assert start["spectrum"] > 1.0 and end["spectrum"] < 0.5 * start["spectrum"], (start, end)


@pytest.mark.parametrize("n_steps, n_frames", [(10, 4), (100, 8), (7, 8), (3, 8)])
def test_synthesis_keeps_at_most_n_frames_ending_at_the_last_step(n_steps, n_frames):
    """The sampler records the last step as well: a stride n_steps // (n_frames - 1) rounded down gave
    n_frames + 1 frames (10 steps, 4 frames: 0, 3, 6, 9, 10)."""
    result = synthesize(open_model("texture_convnet"), size=32, n_steps=n_steps, n_frames=n_frames, margin=0)
    steps = list(result.frame_steps)
    assert len(result.frames) == len(steps) == min(n_frames, n_steps + 1)
    assert steps[0] == 0 and steps[-1] == n_steps and steps == sorted(set(steps))


def test_texture_cli_writes_pngs_and_a_json_line(tmp_path, capsys):
    assert main(["texture", "--size", "40x56", "--steps", "6", "--frames", "3", "--out", str(tmp_path)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1])
    assert out["preset"] == "texture_builtin" and out["model"] == "texture_convnet" and out["size"] == [40, 56]
    assert out["steps"] == 6 and out["energy_end"] < out["energy_start"]
    assert {"spectrum_distance_start", "spectrum_distance_end", "histogram_distance_end"} <= set(out)
    assert np.load(tmp_path / "texture.npy").shape == (1, 1, 40, 56)
    for name in ("texture.png", "filmstrip.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["texture", "--model", "rings_small", "--out", str(tmp_path)]) == 2
    assert "not fully convolutional" in capsys.readouterr().err
    assert main(["texture", "--size", "16", "--out", str(tmp_path)]) == 2
    assert "smaller than the model's 32x32" in capsys.readouterr().err
