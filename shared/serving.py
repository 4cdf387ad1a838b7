"""Serve a service's ASGI app the same way everywhere: our logging, no uvicorn access log (the
request metrics count every request)."""

import uvicorn
from fastapi import FastAPI


def serve_http(app: FastAPI, host: str, port: int) -> None:
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
