#!/usr/bin/env python3
"""CPython asyncio on evloop's benchmark workloads (benches/executor.rs).

The same workloads as the Rust benches, sized to finish in a few seconds:

- spawn_join: create 10,000 tasks that return 1, await each (op = one task).
- yield_many: 100 tasks x 1,000 `asyncio.sleep(0)` (op = one yield; the Rust
  bench runs 1,000 x 1,000, which takes CPython ~10 s per run).
- ping_pong: two tasks pass a counter through two one-slot channels
  (an attribute plus a waiter future), 100,000 hops (op = one hop).
- timers_cancel: 100,000 `loop.call_later` (deadlines 1-60 s) then
  `cancel()` each (op = arm + cancel; `asyncio.sleep` is `call_later` plus a
  future, so this is its timer part).
- timers_fired: 10,000 tasks each sleeping a random 1-50 ms (op = one timer);
  wall time and this thread's CPU time (`time.thread_time`).
- tcp_echo: 50 loopback connections (TCP_NODELAY) to an echo server
  (`asyncio.start_server`, one task per connection), each doing 100 round
  trips of 64 bytes at once per run (op = one round trip), as benches/net.rs.
- sleep_100k: 100,000 tasks each `asyncio.sleep(1)`, in a fresh interpreter:
  wall time and peak RSS (`ru_maxrss`).

Each workload runs a few times on one loop; the median is reported. Prints a
table and writes `target/criterion/asyncio.json` (or the path given as the
first argument) for `examples/bench_report.rs`, which shows evloop/asyncio
ratios.

    python3 benches/asyncio/bench.py
"""

import asyncio
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time

SPAWN_TASKS = 10_000
YIELD_TASKS = 100
YIELDS_PER_TASK = 1_000
PING_PONG_HOPS = 100_000
TIMERS = 100_000
FIRED = 10_000
SLEEPERS = 100_000
CONNECTIONS = 50
ROUND_TRIPS = 100
MSG = 64


async def one():
    return 1


async def spawn_join():
    tasks = [asyncio.create_task(one()) for _ in range(SPAWN_TASKS)]
    s = 0
    for t in tasks:
        s += await t
    return s


async def yielder():
    for _ in range(YIELDS_PER_TASK):
        await asyncio.sleep(0)
    return YIELDS_PER_TASK


async def yield_many():
    tasks = [asyncio.create_task(yielder()) for _ in range(YIELD_TASKS)]
    s = 0
    for t in tasks:
        s += await t
    return s


class Chan:
    """One-slot channel: a value and the receiver's waiter future."""

    __slots__ = ("value", "waiter")

    def __init__(self):
        self.value = None
        self.waiter = None

    def send(self, v):
        self.value = v
        w = self.waiter
        if w is not None:
            self.waiter = None
            w.set_result(None)

    async def recv(self):
        while self.value is None:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        v, self.value = self.value, None
        return v


async def relay(rx, tx):
    while True:
        v = await rx.recv()
        if v >= PING_PONG_HOPS:
            return v
        tx.send(v + 1)
        if v + 1 >= PING_PONG_HOPS:
            return v + 1


async def ping_pong():
    ab, ba = Chan(), Chan()
    ab.send(1)
    ping = asyncio.create_task(relay(ba, ab))
    pong = asyncio.create_task(relay(ab, ba))
    a, b = await ping, await pong
    assert a == b
    return a


def fail():
    raise AssertionError("cancelled timer fired")


async def timers_cancel():
    loop = asyncio.get_running_loop()
    rng = random.Random(42)
    handles = [loop.call_later(rng.uniform(1.0, 60.0), fail) for _ in range(TIMERS)]
    for h in handles:
        h.cancel()
    return len(handles)


async def sleeper(d):
    await asyncio.sleep(d)
    return 1


async def timers_fired():
    rng = random.Random(42)
    tasks = [asyncio.create_task(sleeper(rng.randint(1, 50) / 1000)) for _ in range(FIRED)]
    s = 0
    for t in tasks:
        s += await t
    return s


HANDLERS = set()


async def echo_handler(reader, writer):
    HANDLERS.add(asyncio.current_task())
    writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class EchoBench:
    """Server and client sockets set up once; each run does the round trips."""

    async def setup(self):
        self.server = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.clients = []
        for _ in range(CONNECTIONS):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.clients.append((r, w))

    async def client(self, conn):
        r, w = self.clients[conn]
        msg = bytes((conn + i) % 256 for i in range(MSG))
        for _ in range(ROUND_TRIPS):
            w.write(msg)
            got = await r.readexactly(MSG)
            assert got == msg
        return ROUND_TRIPS

    async def run(self):
        return sum(await asyncio.gather(*(self.client(c) for c in range(CONNECTIONS))))

    async def teardown(self):
        for _, w in self.clients:
            w.close()
        # Let every handler see EOF and finish before the loop closes.
        await asyncio.gather(*HANDLERS)
        self.server.close()
        await self.server.wait_closed()


def measure(loop, work, ops, reps, clock=time.perf_counter):
    """Median seconds per run of `work` on `loop` (first run is a warm-up)."""
    assert loop.run_until_complete(work()) == ops
    samples = []
    for _ in range(reps):
        t0 = clock()
        loop.run_until_complete(work())
        samples.append(clock() - t0)
    return statistics.median(samples)


async def sleepers():
    tasks = [asyncio.create_task(sleeper(1.0)) for _ in range(SLEEPERS)]
    s = 0
    for t in tasks:
        s += await t
    return s


def sleep_100k_child():
    t0 = time.perf_counter()
    n = asyncio.run(sleepers())
    wall = time.perf_counter() - t0
    assert n == SLEEPERS
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    print(json.dumps({"wall_s": wall, "peak_rss_kb": peak_kb}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--sleep-100k-child":
        sleep_100k_child()
        return
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "criterion", "asyncio.json"
    )
    loop = asyncio.new_event_loop()
    results = {}

    def record(group, seconds, ops, unit="ns"):
        results[group] = {"median_ns": seconds * 1e9, "ops": ops, "per_op_ns": seconds * 1e9 / ops}
        print(f"{group:18} {seconds * 1e3:10.2f} ms / run   {seconds * 1e9 / ops:10.1f} {unit}/op")

    print(f"CPython {sys.version.split()[0]} asyncio ({type(loop).__name__})")
    record("spawn_join", measure(loop, spawn_join, SPAWN_TASKS, 5), SPAWN_TASKS)
    yields = YIELD_TASKS * YIELDS_PER_TASK
    record("yield_many", measure(loop, yield_many, yields, 3), yields)
    record("ping_pong", measure(loop, ping_pong, PING_PONG_HOPS, 3), PING_PONG_HOPS)
    record("timers_cancel", measure(loop, timers_cancel, TIMERS, 3), TIMERS)
    record("timers_fired", measure(loop, timers_fired, FIRED, 3), FIRED)
    record("timers_fired_cpu", measure(loop, timers_fired, FIRED, 3, clock=time.thread_time), FIRED)
    echo = EchoBench()
    loop.run_until_complete(echo.setup())
    round_trips = CONNECTIONS * ROUND_TRIPS
    record("tcp_echo", measure(loop, echo.run, round_trips, 5), round_trips)
    loop.run_until_complete(echo.teardown())
    loop.close()

    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--sleep-100k-child"], capture_output=True, text=True, check=True
    )
    s = json.loads(child.stdout.strip().splitlines()[-1])
    results["sleep_100k"] = s
    print(f"sleep_100k         {s['wall_s']:.3f} s wall, {s['peak_rss_kb'] / 1024:.1f} MB peak RSS")

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump({"python": sys.version.split()[0], "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
