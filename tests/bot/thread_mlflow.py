"""A tiny MLflow tracking server on 127.0.0.1 for the Azure side: every run has logged `loss` once.

The Azure adapter reads metrics with mlflow-skinny's RestStore over plain HTTP (not through azure-core's
transport), so the fake Azure world cannot answer it; this does, through AzureJobs' `mlflow_host` seam.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# What the local job logs with `mlflow.log_metric("loss", 0.25, step=3)`.
LOSS: dict[str, Any] = {"key": "loss", "value": 0.25, "step": 3}


class _Mlflow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        run_id = (query.get("run_id") or query.get("run_uuid") or [""])[0]
        now = int(time.time() * 1000)
        point = {**LOSS, "timestamp": now}
        if url.path.endswith("/api/2.0/mlflow/runs/get"):
            info: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id, "experiment_id": "1", "status": "FINISHED"}
            info |= {"lifecycle_stage": "active", "start_time": now, "end_time": now}
            return self._send(200, {"run": {"info": info, "data": {"metrics": [point], "params": [], "tags": []}}})
        if url.path.endswith("/api/2.0/mlflow/metrics/get-history"):
            return self._send(200, {"metrics": [point]})
        return self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": url.path})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def fake_mlflow() -> Iterator[str]:
    """Serve the fake tracking server; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mlflow)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
