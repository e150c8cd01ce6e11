#!/usr/bin/python3
"""gen-categorical.py - makes the categorical palette of src/explain/colormap.c.

Greedy farthest-point sampling in OKLab (Bjorn Ottosson's perceptual colour
space, 2020): candidates are the sRGB colours of a 24-step grid whose OKLab
lightness lies in [0.45, 0.92] (dark enough to see on white, light enough
for black dots on top); colour 0 is the candidate nearest a medium orange,
each next colour is the candidate farthest from all colours chosen so far.
Prints C initialisers for TS_CMAP_CATEGORIES = 256 colours and, on stderr,
the smallest OKLab distance among the first 68.
usage: /usr/bin/python3 tools/gen-categorical.py > /tmp/cat.inc
"""
import sys
import numpy as np

def srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)

def oklab(rgb):
    l = srgb_to_linear(rgb)
    m1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                   [0.2119034982, 0.6806995451, 0.1073969566],
                   [0.0883024619, 0.2817188376, 0.6299787005]])
    m2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                   [1.9779984951, -2.4285922050, 0.4505937099],
                   [0.0259040371, 0.7827717662, -0.8086757660]])
    lms = np.cbrt(l @ m1.T)
    return lms @ m2.T

steps = np.linspace(0, 1, 24)
grid = np.stack(np.meshgrid(steps, steps, steps, indexing='ij'), -1).reshape(-1, 3)
lab = oklab(grid)
keep = (lab[:, 0] >= 0.45) & (lab[:, 0] <= 0.92)
grid, lab = grid[keep], lab[keep]
start = int(np.argmin(((grid - np.array([0.9, 0.5, 0.1])) ** 2).sum(1)))
chosen = [start]
dist = np.sqrt(((lab - lab[start]) ** 2).sum(1))
for i in range(1, 256):
    j = int(np.argmax(dist))
    chosen.append(j)
    dist = np.minimum(dist, np.sqrt(((lab - lab[j]) ** 2).sum(1)))
rgb = np.rint(grid[chosen] * 255).astype(int)
cols = ['{%d,%d,%d}' % tuple(c) for c in rgb]
for i in range(0, 256, 8):
    print('    ' + ', '.join(cols[i:i + 8]) + ',')
# distance between colour 68 candidates before picking = min over first 68
lab68 = lab[chosen[:68]]
d = np.sqrt(((lab68[:, None] - lab68[None]) ** 2).sum(-1)) + np.eye(68) * 9
print('min OKLab distance among the first 68: %.4f' % d.min(), file=sys.stderr)
