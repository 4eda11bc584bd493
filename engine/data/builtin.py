"""Built-in labelled image sets that need no download, generated deterministically.

``make_digits``: handwriting-like digits 0-9 as 1 x 28 x 28 grayscale images (like
MNIST: white strokes on black, about 20 px tall, centred). Each digit has three stroke
"styles" (polylines, arcs and Bezier curves in a unit box); every image gets a smooth
random wobble of its stroke points, a random affine map (rotation, scale, shear,
translation) and a random stroke width, and is rasterised with an anti-aliased edge
(distance to the nearest segment, a linear ramp about one pixel wide).

``make_shapes``: 3 x 32 x 32 colour images of six filled shapes (circle, square,
triangle, plus, ring, star) in random colours, sizes, positions and rotations on a
random background colour, for the W2-style ConvNets.

Both return (x, y): x (N, C, H, W) float32 in [-1, 1], y (N,) int64, classes balanced
(N // K or N // K + 1 of each), identical for the same (n, seed).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from .builtin_texture import make_texture_crops

__all__ = ["DIGIT_CLASSES", "SHAPE_CLASSES", "digit_strokes", "make_digits", "make_shapes"]

DIGIT_CLASSES = tuple(str(d) for d in range(10))
SHAPE_CLASSES = ("circle", "square", "triangle", "plus", "ring", "star")

Stroke = np.ndarray  # (k, 2) points of a polyline in the unit box, x right, y down


# --- stroke primitives (unit box, y down) ------------------------------------------------------


def _line(*pts: tuple[float, float]) -> Stroke:
    return np.asarray(pts, dtype=np.float64)


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int | None = None) -> Stroke:
    """Elliptic arc from angle a0 to a1 (degrees, counter-clockwise as seen, 90 = top)."""
    n = n or max(4, int(abs(a1 - a0) / 12) + 1)
    a = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(a), cy - ry * np.sin(a)], axis=1)


def _bez(p0, p1, p2, p3, n: int = 12) -> Stroke:
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def _join(*parts: Stroke) -> Stroke:
    """One polyline through the parts in order (each part continues from the previous end)."""
    return np.concatenate(parts, axis=0)


# Each style: (strokes, slant, width factor). Slant is a shear added to the random one.
_Style = tuple[list[Stroke], float, float]


def _glyphs() -> dict[int, list[_Style]]:
    g: dict[int, list[_Style]] = {}
    g[0] = [
        ([_arc(0.5, 0.5, 0.27, 0.44, 90, 450, 36)], 0.0, 1.0),
        ([_arc(0.5, 0.5, 0.21, 0.45, 100, 470, 36)], 0.2, 0.9),
        ([_arc(0.5, 0.5, 0.32, 0.42, 60, 440, 36)], -0.05, 1.15),
    ]
    g[1] = [
        ([_line((0.5, 0.05), (0.5, 0.95))], 0.1, 1.0),
        ([_line((0.32, 0.22), (0.54, 0.05), (0.54, 0.95))], 0.0, 1.0),
        ([_line((0.33, 0.2), (0.52, 0.05), (0.52, 0.95)), _line((0.32, 0.95), (0.72, 0.95))], 0.0, 1.1),
    ]
    g[2] = [
        ([_join(_arc(0.5, 0.3, 0.27, 0.25, 160, -15), _line((0.2, 0.94), (0.82, 0.94)))], 0.0, 1.0),
        ([_join(_bez((0.2, 0.25), (0.3, -0.02), (0.88, 0.02), (0.72, 0.38)),
                _bez((0.72, 0.38), (0.6, 0.62), (0.3, 0.8), (0.18, 0.95)),
                _line((0.3, 0.93), (0.84, 0.92)))], 0.15, 0.95),
        ([_join(_arc(0.48, 0.28, 0.25, 0.22, 170, -30),
                _bez((0.7, 0.39), (0.6, 0.55), (0.35, 0.7), (0.22, 0.95)),
                _line((0.6, 0.95), (0.86, 0.92)))], -0.05, 1.2),
    ]
    g[3] = [
        ([_join(_arc(0.5, 0.28, 0.24, 0.22, 150, -90), _arc(0.5, 0.72, 0.27, 0.23, 90, -150))], 0.0, 1.0),
        ([_join(_line((0.24, 0.06), (0.76, 0.06), (0.44, 0.42)), _arc(0.48, 0.68, 0.28, 0.27, 110, -150))],
         0.1, 1.0),
        ([_join(_arc(0.48, 0.27, 0.22, 0.21, 165, -80), _line((0.38, 0.48)),
                _arc(0.5, 0.72, 0.29, 0.23, 100, -160))], 0.15, 1.15),
    ]
    g[4] = [
        ([_line((0.64, 0.95), (0.64, 0.05), (0.15, 0.68), (0.86, 0.68))], 0.0, 1.0),
        ([_line((0.26, 0.05), (0.2, 0.6), (0.82, 0.6)), _line((0.66, 0.25), (0.66, 0.95))], 0.1, 1.0),
        ([_line((0.56, 0.05), (0.17, 0.65), (0.84, 0.65)), _line((0.63, 0.36), (0.63, 0.95))], 0.0, 1.15),
    ]
    g[5] = [
        ([_join(_line((0.76, 0.06), (0.32, 0.06), (0.28, 0.46)), _arc(0.48, 0.68, 0.27, 0.26, 130, -150))],
         0.0, 1.0),
        ([_join(_line((0.31, 0.06), (0.27, 0.48)),
                _bez((0.27, 0.48), (0.5, 0.32), (0.9, 0.45), (0.76, 0.75)),
                _bez((0.76, 0.75), (0.65, 0.98), (0.3, 0.98), (0.2, 0.86))),
          _line((0.31, 0.06), (0.78, 0.06))], 0.15, 0.95),
        ([_join(_line((0.8, 0.08), (0.34, 0.04), (0.26, 0.47)),
                _bez((0.26, 0.47), (0.6, 0.3), (0.95, 0.6), (0.7, 0.86)),
                _bez((0.7, 0.86), (0.55, 1.0), (0.3, 0.95), (0.2, 0.85)))], 0.05, 1.15),
    ]
    g[6] = [
        ([_join(_bez((0.72, 0.08), (0.42, 0.08), (0.22, 0.38), (0.24, 0.7)),
                _arc(0.49, 0.71, 0.25, 0.23, 180, 540, 36))], 0.0, 1.0),
        ([_join(_line((0.64, 0.05), (0.27, 0.62)), _arc(0.48, 0.73, 0.23, 0.22, 160, 520, 36))], 0.15, 0.95),
        ([_join(_arc(0.58, 0.56, 0.33, 0.44, 75, 190),
                _arc(0.52, 0.72, 0.27, 0.22, 190, 550, 36))], 0.0, 1.15),
    ]
    g[7] = [
        ([_line((0.2, 0.07), (0.8, 0.07), (0.42, 0.95))], 0.0, 1.0),
        ([_line((0.2, 0.07), (0.8, 0.07), (0.45, 0.95)), _line((0.4, 0.5), (0.76, 0.5))], 0.1, 1.0),
        ([_join(_line((0.2, 0.16), (0.22, 0.07), (0.8, 0.08)),
                _bez((0.8, 0.08), (0.6, 0.35), (0.5, 0.6), (0.46, 0.95)))], 0.05, 1.15),
    ]
    g[8] = [
        ([_arc(0.5, 0.27, 0.2, 0.21, 270, 630, 30), _arc(0.5, 0.71, 0.25, 0.24, 90, 450, 34)], 0.0, 1.0),
        ([_join(_bez((0.72, 0.16), (0.62, -0.04), (0.2, 0.02), (0.3, 0.3)),
                _bez((0.3, 0.3), (0.4, 0.46), (0.8, 0.55), (0.76, 0.78)),
                _bez((0.76, 0.78), (0.72, 1.0), (0.24, 1.0), (0.25, 0.77)),
                _bez((0.25, 0.77), (0.26, 0.58), (0.7, 0.48), (0.72, 0.16)))], 0.15, 0.95),
        ([_arc(0.5, 0.28, 0.22, 0.22, 270, 630, 30), _arc(0.5, 0.72, 0.24, 0.22, 90, 450, 34)], 0.0, 1.15),
    ]
    g[9] = [
        ([_arc(0.48, 0.3, 0.23, 0.22, 0, 360, 30), _line((0.71, 0.3), (0.68, 0.95))], 0.0, 1.0),
        ([_join(_arc(0.47, 0.3, 0.23, 0.22, -10, 350, 30),
                _bez((0.7, 0.34), (0.73, 0.62), (0.62, 0.88), (0.34, 0.95)))], 0.15, 0.95),
        ([_arc(0.5, 0.28, 0.24, 0.22, 0, 360, 30), _line((0.74, 0.3), (0.52, 0.95))], 0.0, 1.15),
    ]
    return g


@functools.lru_cache(maxsize=1)
def _glyph_table() -> dict[int, list[_Style]]:
    return _glyphs()


def digit_strokes(digit: int, style: int) -> list[np.ndarray]:
    """The polylines of a digit's style (0-2) in the unit box (x right, y down): [(k, 2)]."""
    return [s.copy() for s in _glyph_table()[int(digit)][int(style)][0]]


# --- rasterisation -----------------------------------------------------------------------------


def _segments(strokes: list[Stroke]) -> tuple[np.ndarray, np.ndarray]:
    """(starts (S, 2), ends (S, 2)) of all polyline segments."""
    a = np.concatenate([s[:-1] for s in strokes])
    b = np.concatenate([s[1:] for s in strokes])
    return a, b


def _render_strokes(a: np.ndarray, b: np.ndarray, width: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased strokes. a, b: (B, S, 2) segment ends in pixels; width (B,) in pixels.

    Returns ink (B, size, size) in [0, 1]: 1 within width/2 of a segment, a linear ramp
    over about one pixel at the edge.
    """
    c = np.arange(size, dtype=np.float32) + 0.5
    gx = np.tile(c, size)[None, :, None]  # (1, P, 1), row-major pixels
    gy = np.repeat(c, size)[None, :, None]
    ax, ay = a[..., 0][:, None, :], a[..., 1][:, None, :]  # (B, 1, S)
    dx, dy = (b[..., 0] - a[..., 0])[:, None, :], (b[..., 1] - a[..., 1])[:, None, :]
    inv = 1.0 / np.maximum(dx * dx + dy * dy, 1e-12)
    px = gx - ax  # (B, P, S)
    py = gy - ay
    t = px * dx
    t += py * dy
    t *= inv
    np.clip(t, 0.0, 1.0, out=t)
    px -= t * dx
    py -= t * dy
    px *= px
    py *= py
    px += py
    d = np.sqrt(px.min(axis=2))  # (B, P)
    ink = np.clip((0.5 * width[:, None] - d) / 1.1 + 0.5, 0.0, 1.0)
    return ink.reshape(-1, size, size)


def _affines(rng: np.random.Generator, n: int, slant: np.ndarray) -> np.ndarray:
    """Random 2 x 2 maps (n, 2, 2): rotation +-12 deg, scale 0.8-1.02, aspect +-10%, shear."""
    rot = np.radians(rng.uniform(-12.0, 12.0, n))
    scale = rng.uniform(0.8, 1.02, n)
    aspect = rng.uniform(0.9, 1.1, n)
    shear = slant + rng.normal(0.0, 0.12, n)
    c, s = np.cos(rot), np.sin(rot)
    r = np.stack([np.stack([c, -s], 1), np.stack([s, c], 1)], 1)
    # shear x by -shear * y (y down, so a positive slant leans the top to the right)
    sh = np.zeros((n, 2, 2))
    sh[:, 0, 0] = 1.0
    sh[:, 0, 1] = -shear
    sh[:, 1, 1] = 1.0
    sc = np.zeros((n, 2, 2))
    sc[:, 0, 0] = scale * aspect
    sc[:, 1, 1] = scale / aspect
    return r @ sh @ sc


def _wobble(rng: np.random.Generator, pts: np.ndarray, amp: float) -> np.ndarray:
    """Smooth random displacement of points (B, K, 2) in the unit box: two low-frequency waves."""
    b = pts.shape[0]
    out = pts.copy()
    for _ in range(2):
        freq = rng.uniform(1.0, 3.0, (b, 1, 2))
        phase = rng.uniform(0.0, 2 * math.pi, (b, 1, 2))
        a = rng.normal(0.0, amp, (b, 1, 2))
        out += a * np.sin(freq * np.pi * pts[..., ::-1] + phase)
    return out


def _balanced_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % k).astype(np.int64)


@functools.lru_cache(maxsize=4)
def _make_digits_cached(n: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD161]))
    y = _balanced_labels(rng, n, 10)
    style = rng.integers(0, 3, n)
    out = np.empty((n, 1, size, size), dtype=np.float32)
    glyph_px = 21.0 * size / 28.0
    centre = size / 2.0
    chunk = 128
    for digit in range(10):
        for st in range(3):
            idx = np.flatnonzero((y == digit) & (style == st))
            if idx.size == 0:
                continue
            strokes, slant, wfac = _glyph_table()[digit][st]
            a0, b0 = _segments(strokes)
            for lo in range(0, idx.size, chunk):
                sel = idx[lo:lo + chunk]
                m = sel.size
                pts = np.concatenate([a0, b0])[None].repeat(m, 0)  # (m, 2S, 2)
                pts = _wobble(rng, pts, 0.022)
                mats = _affines(rng, m, np.full(m, slant))
                shift = rng.uniform(-1.5, 1.5, (m, 1, 2)) * size / 28.0
                px = (pts - 0.5) * glyph_px
                width = np.clip(rng.normal(2.4, 0.45, m) * wfac, 1.4, 3.8) * size / 28.0
                px = np.einsum("bij,bkj->bki", mats, px) + centre + shift
                # keep the whole glyph (and its stroke) at least a pixel inside the frame
                margin = (1.0 + 0.5 * width)[:, None]
                lo = px.min(axis=1) - margin
                hi = px.max(axis=1) + margin - size
                px -= (np.minimum(lo, 0.0) + np.maximum(hi, 0.0))[:, None, :]
                s = a0.shape[0]
                ink = _render_strokes(px[:, :s].astype(np.float32), px[:, s:].astype(np.float32),
                                      width.astype(np.float32), size)
                out[sel, 0] = ink
    out *= 2.0
    out -= 1.0
    return out, y


def make_digits(n: int = 7000, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """n digit images: x (n, 1, size, size) float32 in [-1, 1] (ink = +1), y (n,) int64 0-9."""
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    x, y = _make_digits_cached(n, int(seed), int(size))
    return x.copy(), y.copy()


# --- coloured shapes ---------------------------------------------------------------------------


def _regular(k: int, r_in: float) -> np.ndarray:
    """A star/regular polygon outline with k points: radii alternate 1 and r_in (r_in=1: plain)."""
    m = 2 * k if r_in != 1.0 else k
    ang = np.pi / 2 + 2 * np.pi * np.arange(m) / m
    rad = np.where(np.arange(m) % 2 == 0, 1.0, r_in) if r_in != 1.0 else np.ones(m)
    return np.stack([rad * np.cos(ang), -rad * np.sin(ang)], 1)


_POLYS: dict[str, np.ndarray] = {
    "square": np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * 0.8,
    "triangle": _regular(3, 1.0) * np.array([1.0, 1.0]) + np.array([0.0, 0.2]),
    "plus": np.array([[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3], [0.3, 1],
                      [-0.3, 1], [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]], dtype=np.float64),
    "star": _regular(5, 0.45),
}


def _signed_dist_poly(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance (positive inside) from points (B, P) to polygons poly (B, V, 2)."""
    a = poly
    b = np.roll(poly, -1, axis=1)
    ax, ay = a[..., 0][:, None, :], a[..., 1][:, None, :]
    dx, dy = (b[..., 0] - a[..., 0])[:, None, :], (b[..., 1] - a[..., 1])[:, None, :]
    qx, qy = px[..., None] - ax, py[..., None] - ay  # (B, P, V)
    t = np.clip((qx * dx + qy * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    d = np.sqrt(((qx - t * dx) ** 2 + (qy - t * dy) ** 2).min(axis=2))
    # even-odd rule: count edges crossed by a ray to +x
    by = ay + dy
    cond = (ay > py[..., None]) != (by > py[..., None])
    xint = ax + (py[..., None] - ay) * dx / np.where(dy == 0, 1e-12, dy)
    inside = (cond & (px[..., None] < xint)).sum(axis=2) % 2 == 1
    return np.where(inside, d, -d)


@functools.lru_cache(maxsize=4)
def _make_shapes_cached(n: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A9E]))
    k = len(SHAPE_CLASSES)
    y = _balanced_labels(rng, n, k)
    c = np.arange(size, dtype=np.float32) + 0.5
    gx = np.tile(c, size)
    gy = np.repeat(c, size)
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for cls, name in enumerate(SHAPE_CLASSES):
        idx = np.flatnonzero(y == cls)
        m = idx.size
        if m == 0:
            continue
        radius = (rng.uniform(0.22, 0.36, m) * size).astype(np.float32)
        cx = size / 2 + rng.uniform(-1, 1, m) * (size / 2 - radius - 1) * 0.6
        cy = size / 2 + rng.uniform(-1, 1, m) * (size / 2 - radius - 1) * 0.6
        rot = rng.uniform(0, 2 * np.pi, m).astype(np.float32)
        cx, cy = cx.astype(np.float32), cy.astype(np.float32)
        # local coordinates of each pixel, in units of the radius
        lx = (gx[None, :] - cx[:, None]) / radius[:, None]
        ly = (gy[None, :] - cy[:, None]) / radius[:, None]
        cr, sr = np.cos(rot)[:, None], np.sin(rot)[:, None]
        ux, uy = cr * lx + sr * ly, -sr * lx + cr * ly
        if name == "circle":
            sd = 0.9 - np.hypot(ux, uy)
        elif name == "ring":
            sd = 0.28 - np.abs(np.hypot(ux, uy) - 0.68)
        else:
            poly = np.broadcast_to(_POLYS[name].astype(np.float32), (m, *_POLYS[name].shape))
            sd = _signed_dist_poly(ux, uy, poly)
        cover = np.clip(sd * radius[:, None] + 0.5, 0.0, 1.0)  # signed distance in pixels
        fg, bg = _contrasting_colours(rng, m)
        img = bg[:, :, None] * (1 - cover[:, None, :]) + fg[:, :, None] * cover[:, None, :]
        out[idx] = img.reshape(m, 3, size, size)
    out *= 2.0
    out -= 1.0
    return out, y


def _contrasting_colours(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, background) RGB in [0, 1], (m, 3) each, luminance apart by >= 0.3."""
    fg = rng.uniform(0.0, 1.0, (m, 3))
    bg = rng.uniform(0.0, 1.0, (m, 3))
    lum = np.array([0.299, 0.587, 0.114])
    for _ in range(20):
        bad = np.abs((fg - bg) @ lum) < 0.3
        if not bad.any():
            break
        bg[bad] = rng.uniform(0.0, 1.0, (int(bad.sum()), 3))
    bad = np.abs((fg - bg) @ lum) < 0.3
    bg[bad] = np.where(((fg[bad] @ lum) > 0.5)[:, None], 0.05, 0.95)
    return fg, bg


def make_shapes(n: int = 6000, seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """n colour shape images: x (n, 3, size, size) float32 in [-1, 1], y (n,) int64 indexing
    SHAPE_CLASSES."""
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    x, y = _make_shapes_cached(n, int(seed), int(size))
    return x.copy(), y.copy()


GENERATORS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray | None]]] = {
    "builtin_digits": make_digits,
    "builtin_shapes": make_shapes,
    "builtin_texture": make_texture_crops,  # unlabelled crops (y None) of one cobblestone texture
}
