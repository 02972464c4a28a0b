#!/usr/bin/python3
"""Writes the independent references for promoteFrame into test/fixtures/promote/.

Run with Debian's python (python3-pil):  /usr/bin/python3 scripts/make-promote-fixtures.py
Each case takes a committed QA fixture, keeps the same centred region promoteFrame keeps (the largest one with the
target aspect; an odd remainder to the right/bottom), and resizes it with PIL's LANCZOS (a 3-lobe Lanczos, the
kernel sharp calls lanczos3). PIL is a different implementation from libvips, so promote.test.ts compares within a
tolerance rather than byte for byte.
"""
import json
import math
import os

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
QA = os.path.join(HERE, '..', 'test', 'fixtures', 'qa')
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'promote')

# (source fixture, target width, target height): a downscale with a side crop, an upscale with a top/bottom crop, and
# an upscale of noise, where the kernel shows most (a smooth gradient cannot tell bicubic from Lanczos3 well).
CASES = [
    ('photo-like-480x270.png', 192, 192),
    ('gradient-256x160.png', 480, 270),
    ('noise-200x200.png', 480, 270),
]


def js_round(x):
    # Math.round, which promoteFrame uses: halves go up. Python's round() takes halves to even (112.5 → 112).
    return math.floor(x + 0.5)


def centre_crop(w, h, tw, th):
    if w * th > h * tw:
        cw = max(1, min(w, js_round(h * tw / th)))
        return (w - cw) // 2, 0, cw, h
    ch = max(1, min(h, js_round(w * th / tw)))
    return 0, (h - ch) // 2, w, ch


def main():
    os.makedirs(OUT, exist_ok=True)
    index = []
    for name, tw, th in CASES:
        src = Image.open(os.path.join(QA, name)).convert('RGB')
        x, y, cw, ch = centre_crop(src.width, src.height, tw, th)
        out = src.crop((x, y, x + cw, y + ch)).resize((tw, th), Image.LANCZOS)
        target = f'{os.path.splitext(name)[0]}-to-{tw}x{th}.png'
        out.save(os.path.join(OUT, target), optimize=True)
        index.append({'source': name, 'width': tw, 'height': th, 'crop': [x, y, cw, ch], 'reference': target})
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump({'generator': f'PIL {Image.__version__} Image.LANCZOS', 'cases': index}, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    main()
