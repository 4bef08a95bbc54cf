"""Benchmarks: ratios measured within one run (``python -m benchmarks``, or ``nox -s bench``).

The machine they run on is small and noisy, so every target is a ratio of variants measured in
the same run, interleaved in blocks, their medians compared; no absolute time is judged. Client
CPU is ``time.process_time()`` in this process; the emulator always runs in another process
(`benchmarks._served`), so its CPU is not counted.

``python -m benchmarks`` runs them all, ``python -m benchmarks NAME ...`` some (``--list``
names them). Each prints a one-line verdict per figure (pass, fail, info, adopted as opt-in,
evaluated but not adopted, skipped) and the run writes ``benchmarks/results.json``: every figure
with its target, verdict and raw medians, and the machine. The exit status is 1 when a figure
failed its target.

Modules, one per benchmark:

- `benchmarks.auth`: warm-cache ``MaskinportenAuth`` against a fixed header, in memory.
- `benchmarks.concurrency`: httpx's client CPU per request and wall time at concurrency 1, 10,
  25, 50 and 100, on loopback and with a far-away server; the default concurrency for a bulk
  harvest; what the library adds to a bare request.
- `benchmarks.aiohttp_transport`: httpx-aiohttp's transport against httpx's own.
- `benchmarks.harvest_baseline`: `bare_harvest`, the hand-written harvest loop the library's
  engine is to be compared with (``HARVESTERS``).
- `benchmarks.limits`: httpx, its aiohttp transport and the harvest engine against a raw-socket
  client, the physical limit; the plot ``benchmarks/concurrency.png``.
- `benchmarks.stampede`: token requests under 1, 100 and 1000 concurrent requests, cold and
  just past expiry, ours (exactly one per cache key per lifetime) against authlib and
  pymaskinporten, each peer in a virtual environment of its own under ``benchmarks/.venvs/``
  (made on first use) through ``benchmarks/peers/stampede_driver.py``.

Shared parts: `benchmarks._served` (a seeded emulator in a child process on a free loopback
port, with a fixed Altinn token or the library's auth chain), `benchmarks._serve` (that child),
`benchmarks._workload` (the download workload), `benchmarks._raw` (the raw HTTP/1.1 client),
`benchmarks._measure` (samples, interleaving, medians), `benchmarks._report` (figures, the
machine, ``results.json``) and `benchmarks._context` (what the runner gives each benchmark).
"""
