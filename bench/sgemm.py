"""Peak float32 GEMM throughput of numpy on this machine (the reference for MFU).

Usage: python3 bench/sgemm.py [--threads N] [--size S] [--seconds T]
Prints one JSON object on stdout: {"gflops": best, "sizes": {...}, "blas": ...}.
"""
import argparse
import json
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=0, help='BLAS threads (0: leave as is)')
    ap.add_argument('--seconds', type=float, default=1.0, help='time budget per size')
    ap.add_argument('--sizes', default='1024,2048', help='square sizes to try')
    args = ap.parse_args()
    if args.threads > 0:
        for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS'):
            os.environ[var] = str(args.threads)
    import numpy as np  # after the env vars: OpenBLAS reads them when it loads

    rng = np.random.default_rng(0)
    results = {}
    for n in (int(s) for s in args.sizes.split(',')):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        a @ b  # warm-up (thread start, page faults)
        best = float('inf')
        spent = 0.0
        reps = 0
        while spent < args.seconds or reps < 3:
            t0 = time.perf_counter()
            a @ b
            dt = time.perf_counter() - t0
            best = min(best, dt)
            spent += dt
            reps += 1
        results[str(n)] = 2 * n ** 3 / best / 1e9
        print(f'sgemm {n}x{n}x{n}: {results[str(n)]:.1f} GFLOP/s (best of {reps})', file=sys.stderr)
    blas = 'unknown'
    try:
        cfg = np.show_config(mode='dicts')  # numpy >= 1.25
        blas = cfg['Build Dependencies']['blas'].get('name', 'unknown')
    except Exception:  # older numpy: no dict mode
        pass
    print(json.dumps({'gflops': max(results.values()), 'sizes': results, 'numpy': np.__version__,
                      'blas': blas, 'python': sys.executable,
                      'coretype': os.environ.get('OPENBLAS_CORETYPE')}))


if __name__ == '__main__':
    main()
