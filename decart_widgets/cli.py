"""The ``decart-widgets`` command: ``serve`` the local server, run the ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    from .server import LocalServer

    keys = set(args.valid_key) if args.valid_key else None
    try:
        server = LocalServer(
            host=args.host, port=args.port, model=None if args.model == "effects" else args.model, valid_keys=keys
        )
    except (ValueError, TypeError) as exc:
        print(f"decart-widgets serve: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        async with server:
            print(f"decart-widgets local server listening at {server.url} (model: {args.model}); Ctrl-C stops it", flush=True)
            await stop.wait()

    asyncio.run(run())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, seconds_per_phase=args.seconds_per_phase)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="decart-widgets", description="Decart realtime video models in Jupyter.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the embedded Decart-compatible local server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --valid-key)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument("--model", default="effects", choices=["effects", "passthrough"], help="local model (default effects)")
    serve.add_argument("--valid-key", action="append", metavar="KEY", help="accept only this API key (repeatable)")
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="stream the test pattern through the local server and write a video and a contact sheet")
    demo.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    demo.add_argument("--seconds-per-phase", type=float, default=2.5, help="seconds per prompt phase (default 2.5)")
    demo.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
