"""Running one worker's app until SIGTERM or SIGINT, then stopping gracefully: stop
accepting connections, let the requests in progress finish (up to `timeout` seconds),
then close the idle connections and clean up.

aiohttp's own shutdown (run_app) marks every connection closing first, and a closing
connection ignores the bytes still arriving, so an upload whose body is on its way would
never finish and be cut at the timeout. Waiting for the in-flight count (kept by the ops
middleware) before that step lets it complete."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import time

from aiohttp import web

from registry_server.ops import OPS, recorder_for

POLL_INTERVAL = 0.05


async def _serve(app: web.Application, sock: socket.socket, ssl_context: ssl.SSLContext | None,
                 timeout: float) -> None:
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=timeout,
                           access_log_class=recorder_for(app[OPS]), access_log=logging.getLogger(__name__))
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        await site.stop()
        counters = app[OPS].counters
        deadline = time.monotonic() + timeout
        while counters.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        await runner.cleanup()


def run(app: web.Application, sock: socket.socket, ssl_context: ssl.SSLContext | None,
        timeout: float) -> None:
    asyncio.run(_serve(app, sock, ssl_context, timeout))
