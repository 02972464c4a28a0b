#!/usr/bin/python3
"""Writes the OpenCV parity fixtures for QA metrics into test/fixtures/qa/.

Run with Debian's python (python3-opencv, python3-numpy):  /usr/bin/python3 scripts/make-qa-fixtures.py
Every image is generated from a fixed seed, saved as PNG, read back with cv2.imread (so the expected values are
computed from exactly the committed pixels) and measured the way OpenCV users measure:
  sharpness  = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
  luma mean  = gray.mean()
  noise      = Immerkaer's estimate over the interior, sqrt(pi/2) / (6 (W-2)(H-2)) * sum|gray * N|
"""
import json
import math
import os

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'qa')
rng = np.random.default_rng(20240607)


def gradient(w, h):
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    b = 255 * x * np.ones_like(y)
    g = 255 * y * np.ones_like(x)
    r = 255 * (0.5 + 0.5 * np.sin(6 * x + 4 * y))
    return np.dstack([b, g, r])


def noise(w, h):
    return 128 + rng.normal(0, 30, (h, w, 3))


def text_edges(w, h):
    img = np.full((h, w, 3), 235.0)
    for row in range(12, h - 12, 18):
        x = 10
        while x < w - 20:
            word = int(rng.integers(8, 40))
            cv2.rectangle(img, (x, row), (min(x + word, w - 10), row + 9), (20, 20, 30), -1)
            x += word + int(rng.integers(5, 12))
    cv2.line(img, (0, h // 2), (w - 1, h // 3), (200, 40, 40), 2)
    return img


def photo_like(w, h):
    img = gradient(w, h) * 0.6 + 40
    for _ in range(14):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(10, w // 4)), int(rng.integers(10, h // 4)))
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        cv2.ellipse(img, centre, axes, float(rng.integers(0, 180)), 0, 360, colour, -1)
    img = cv2.GaussianBlur(img, (0, 0), 1.2)
    for _ in range(6):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p1, p2, (250, 250, 240), 1)
    return img + rng.normal(0, 3, img.shape)


def odd_mix(w, h):
    img = photo_like(w, h)
    img[:, : w // 3] = noise(w // 3, h)  # a grainy strip
    img[h // 2 :, w // 2 :] = 255  # a clipped patch
    img[: h // 4, : w // 4] = 0  # and a crushed one
    return img


FIXTURES = [
    ('gradient-256x160.png', gradient, 256, 160),
    ('noise-200x200.png', noise, 200, 200),
    ('text-edges-320x240.png', text_edges, 320, 240),
    ('photo-like-480x270.png', photo_like, 480, 270),
    ('odd-161x97.png', odd_mix, 161, 97),
]

IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {'opencv': cv2.__version__, 'numpy': np.__version__, 'images': {}}
    for name, make, w, h in FIXTURES:
        img = np.clip(np.rint(make(w, h)), 0, 255).astype(np.uint8)
        path = os.path.join(OUT, name)
        cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        lap = cv2.Laplacian(gray, cv2.CV_64F)
        conv = cv2.filter2D(gray.astype(np.float64), -1, IMMERKAER)[1:-1, 1:-1]
        noise_sigma = math.sqrt(math.pi / 2) / (6 * (w - 2) * (h - 2)) * float(np.abs(conv).sum())
        expected['images'][name] = {
            'width': w,
            'height': h,
            'laplacianVar': float(lap.var()),
            'lumaMean': float(gray.mean()),
            'lumaStd': float(gray.std()),
            'noiseSigma': noise_sigma,
            'clippedHighlightsPct': float((gray >= 250).mean() * 100),
            'clippedShadowsPct': float((gray <= 5).mean() * 100),
        }
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main()
