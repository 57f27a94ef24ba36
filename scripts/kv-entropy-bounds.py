#!/usr/bin/env python3
"""Lower bounds for `maxError: eps` coding of the real KV tensors (issue 5's 0.85x goal).

For each kind (keys: rows are channels; values: rows are tokens) it takes the issue's
eps = median row range / 15 / 2 and prints bits per element of:
  plain        mean over rows of log2(floor(range / 2eps) + 1), no metadata;
  per-channel  the empirical order-0 entropy of q = round(x / 2eps), one table per
               (tensor, head, channel) that costs nothing: no real coder does better
               without context;
  prev-token   the same of q minus the previous token's q;
  LS channels  of the residual of a least-squares prediction of each channel from the
               channels before it in the same token, with coefficients fitted on the
               other passage (a predictor shared per model, not per stream);
  LS in-sample the same with coefficients fitted on the tensor itself (their cost,
               ~528 per head, not counted);
  one channel  the best single earlier channel as predictor, cross-fitted likewise.

Usage: python3 scripts/kv-entropy-bounds.py [test/data/kv/kv_brown.safetensors]
Needs numpy (Debian: python3-numpy).
"""
import json
import struct
import sys

import numpy as np

path = sys.argv[1] if len(sys.argv) > 1 else 'test/data/kv/kv_brown.safetensors'
raw = open(path, 'rb').read()
header_len = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + header_len])


def tensor(name):
    start, end = header[name]['data_offsets']
    data = np.frombuffer(raw[8 + header_len + start:8 + header_len + end], dtype=np.float32)
    return data.reshape(header[name]['shape']).astype(np.float64)


def entropy(q):
    _, counts = np.unique(q, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def least_squares(train, test, c):
    """Residual of channel c of `test` predicted from its channels < c, fitted on `train`."""
    coef, *_ = np.linalg.lstsq(np.c_[train[:, :c], np.ones(len(train))], train[:, c], rcond=None)
    return test[:, c] - np.c_[test[:, :c], np.ones(len(test))] @ coef


passages = sorted({int(k[1]) for k in header if k.startswith('p')})
layers = sorted({int(k.split('.')[1][5:]) for k in header if k.startswith('p')})
for kind in ['key', 'value']:
    x = {(p, l): tensor(f'p{p}.layer{l}.{kind}') for p in passages for l in layers}
    ranges = []
    for t in x.values():
        for head in t:
            ranges += list(np.ptp(head, axis=0 if kind == 'key' else 1))
    eps = float(np.median(ranges)) / 15 / 2
    step = 2 * eps
    plain = float(np.mean(np.log2(np.floor(np.array(ranges) / step) + 1)))
    rows = {name: [] for name in ['per-channel', 'prev-token', 'LS channels', 'LS in-sample', 'one channel']}
    for (p, l), t in x.items():
        other = x[(passages[1 - passages.index(p)] if len(passages) > 1 else p, l)]
        for head, train in zip(t, other):
            q = np.round(head / step)
            for c in range(head.shape[1]):
                rows['per-channel'].append(entropy(q[:, c]))
                rows['prev-token'].append(entropy(np.r_[q[:1, c], np.diff(q[:, c])]))
                if c == 0:
                    for name in ['LS channels', 'LS in-sample', 'one channel']:
                        rows[name].append(entropy(q[:, 0]))
                    continue
                rows['LS channels'].append(entropy(np.round(least_squares(train, head, c) / step)))
                rows['LS in-sample'].append(entropy(np.round(least_squares(head, head, c) / step)))
                best = entropy(q[:, c])
                for j in range(c):
                    a = np.polyfit(train[:, j], train[:, c], 1)
                    best = min(best, entropy(np.round((head[:, c] - np.polyval(a, head[:, j])) / step)))
                rows['one channel'].append(best)
    print(f'{kind}: eps {eps:.4f}, plain {plain:.3f} bits/el')
    for name, values in rows.items():
        print(f'  {name:13s} {np.mean(values):.3f} bits/el  {np.mean(values) / plain:.2f}x plain')
