"""The toolkit the emulated services are built on; it knows no service.

- `asgi`, `responses`, `router`, `app`: raw ASGI, the real services' response shapes, routes
  declared on handlers with `Refusal` as the one way to say no, and the application that
  dispatches, counts and injects faults.
- `jose`, `pki`, `claims`, `dotnet`: signing keys and token checks, certificates and chain
  verification, one reader per token claim, .NET ticks and timestamps.
- `state`, `faults`, `register`: the shared lock, clock, counters and faults; replay memory; the
  Register of persons and service owners.
- `transport`, `server`, `uvicorn_glue`: in-process and on-a-port serving.
"""
