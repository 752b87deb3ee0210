#!/usr/bin/env python3
"""CPython asyncio's side of benches/timer_precision.rs: N sequential
`asyncio.sleep(d)` on an idle loop, each timed from just before the call to
just after it returns; prints the same table columns (ms).

    python3 benches/asyncio/timer_precision.py [N]
"""

import asyncio
import statistics
import sys
import time

DURATIONS = [0.0001, 0.001, 0.010]


async def sleeps(n, d):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await asyncio.sleep(d)
        out.append(time.perf_counter() - t0)
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    loop = asyncio.new_event_loop()
    print(f"CPython {sys.version.split()[0]} asyncio ({type(loop).__name__}), {n} sleeps each (ms)")
    print("| sleep | min | mean | p50 | p99 | max | mean / requested |")
    print("|---|---|---|---|---|---|---|")
    for d in DURATIONS:
        v = sorted(loop.run_until_complete(sleeps(n, d)))
        p99 = v[round((len(v) - 1) * 0.99)]
        mean = statistics.fmean(v)
        print(
            f"| {d * 1e3:g} ms | {v[0] * 1e3:.3f} | {mean * 1e3:.3f} | {statistics.median(v) * 1e3:.3f} "
            f"| {p99 * 1e3:.3f} | {v[-1] * 1e3:.3f} | {mean / d:.2f}× |"
        )
    loop.close()


if __name__ == "__main__":
    main()
