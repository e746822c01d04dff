"""Where to draw a DAG: a layered (Sugiyama-style) layout, shared by the HTML report and the GUI.

Longest-path layers top to bottom, barycentre sweeps to order each layer, then each node
pulled toward its neighbours' mean x with order and spacing kept (isotonic regression).
O(edges) per sweep; no dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 150, 42, 18, 46, 16


@dataclass
class Layout:
    xy: list[tuple[float, float]]  # top-left corner of each node's box, in input order
    parents: list[list[int]]  # parent indices of each node
    width: float
    height: float


def layered(nodes: list[tuple[str, list[str]]]) -> Layout:
    """``nodes``: (id, parent ids), parents first.  Boxes are BOX_W x BOX_H."""
    index = {n[0]: i for i, n in enumerate(nodes)}
    parents = [[index[p] for p in n[1] if p in index] for n in nodes]
    depth = [0] * len(nodes)
    for i in range(len(nodes)):  # nodes come parents first
        depth[i] = 1 + max((depth[p] for p in parents[i]), default=-1)
    layers: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for i, d in enumerate(depth):
        layers[d].append(i)
    children: list[list[int]] = [[] for _ in nodes]
    for i, ps in enumerate(parents):
        for p in ps:
            children[p].append(i)
    _order(layers, parents, children)
    xs = _place(layers, parents, children, BOX_W + GAP_X)
    width = PAD * 2 + (max(xs, default=0.0) - min(xs, default=0.0)) + BOX_W
    height = PAD * 2 + len(layers) * BOX_H + max(0, len(layers) - 1) * GAP_Y
    x0 = min(xs, default=0.0) - PAD
    xy: list[tuple[float, float]] = [(0.0, 0.0)] * len(nodes)
    for d, layer in enumerate(layers):
        for i in layer:
            xy[i] = (xs[i] - x0, PAD + d * (BOX_H + GAP_Y))
    return Layout(xy, parents, width, height)


def _order(layers: list[list[int]], parents: list[list[int]], children: list[list[int]]) -> None:
    """Order each layer by the barycentres of its neighbours: down, up, down, up."""
    pos = [0.0] * sum(len(layer) for layer in layers)
    for layer in layers:
        for k, i in enumerate(layer):
            pos[i] = float(k)
    for sweep in range(4):
        down = sweep % 2 == 0
        for layer in (layers[1:] if down else list(reversed(layers[:-1]))):
            def bary(i: int, down: bool = down) -> float:
                nb = parents[i] if down else children[i]
                return sum(pos[j] for j in nb) / len(nb) if nb else pos[i]
            layer.sort(key=bary)
            for k, i in enumerate(layer):
                pos[i] = float(k)


def _isotonic_spaced(desired: list[float], gap: float) -> list[float]:
    """Positions closest (least squares) to ``desired`` that keep order and ``gap`` apart.

    With y_i = x_i - i*gap the constraint is "y non-decreasing": isotonic regression,
    solved exactly by pool-adjacent-violators in O(n).
    """
    blocks: list[list[float]] = []  # [sum, count]
    for i, d in enumerate(desired):
        blocks.append([d - i * gap, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    out: list[float] = []
    for s, c in blocks:
        out.extend([s / c] * int(c))
    return [y + i * gap for i, y in enumerate(out)]


def _place(layers: list[list[int]], parents: list[list[int]], children: list[list[int]],
           gap: float) -> list[float]:
    """x of each node: each layer pulled toward its neighbours' mean, order and spacing kept."""
    n = sum(len(layer) for layer in layers)
    xs = [0.0] * n
    for layer in layers:
        for k, i in enumerate(layer):
            xs[i] = (k - (len(layer) - 1) / 2) * gap
    for sweep in range(6):
        down = sweep % 2 == 0
        for layer in (layers[1:] if down else list(reversed(layers[:-1]))):
            want = []
            for i in layer:
                nb = parents[i] if down else children[i]
                if not nb:
                    nb = children[i] if down else parents[i]
                want.append(sum(xs[j] for j in nb) / len(nb) if nb else xs[i])
            for i, x in zip(layer, _isotonic_spaced(want, gap), strict=True):
                xs[i] = x
    return xs
