"""The peer of bench/sampler.ts: CS336's get_batch on np.memmap, timed on the
same token file (uint16 or uint32), random and sequential windows.

    python3 bench/sampler_numpy.py FILE DTYPE BATCHES BATCH_SIZE CONTEXT

Prints one JSON object: microseconds per batch for each kind of batch.
"""
import json
import sys
import time

import numpy as np

path, dtype, batches, B, T = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
data = np.memmap(path, dtype=np.dtype(dtype).newbyteorder('<'), mode='r')
rng = np.random.default_rng(42)


def get_batch():
    # As in the CS336 handout: random starts, stacked windows, int64 tensors.
    starts = rng.integers(0, len(data) - T, size=B)
    x = np.stack([data[s:s + T] for s in starts]).astype(np.int64)
    y = np.stack([data[s + 1:s + 1 + T] for s in starts]).astype(np.int64)
    return x, y


def sequential():
    n = 0
    for b in range(batches):
        starts = [(b * B + i) * (T + 1) for i in range(B)]
        if starts[-1] + T + 1 > len(data):
            break
        x = np.stack([data[s:s + T] for s in starts]).astype(np.int64)
        y = np.stack([data[s + 1:s + 1 + T] for s in starts]).astype(np.int64)
        n += 1
    return n


for _ in range(batches):  # warm the page cache like the lmpipe side
    get_batch()
t0 = time.perf_counter()
for _ in range(batches):
    get_batch()
random_s = time.perf_counter() - t0
t0 = time.perf_counter()
sequential()
seq_s = time.perf_counter() - t0
print(json.dumps({
    'numpy': np.__version__,
    'random_us_per_batch': round(random_s / batches * 1e6, 1),
    'sequential_us_per_batch': round(seq_s / batches * 1e6, 1),
}))
