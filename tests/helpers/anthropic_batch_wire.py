"""Anthropic's Message Batches on the loopback wire server, on the same batches, state machine
and knobs as OpenAI's (batch_wire.py): create with the requests inline, retrieve (the counts
stay at `processing` until the batch has ended), results as JSONL from an absolute
`results_url` with no blank lines, list with `has_more`, cancel with an empty body."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

try:
    from tests.helpers.batch_wire import Batch, BatchApi, BatchReply
except ModuleNotFoundError:  # run as a script: this file's folder is sys.path[0]
    from batch_wire import Batch, BatchApi, BatchReply  # type: ignore[import-not-found,no-redef]

PREFIX = "/v1/messages/batches"
STATUS = {
    "cancelling": "canceling",
    "completed": "ended",
    "expired": "ended",
    "cancelled": "ended",
    "failed": "ended",
}  # any other: in_progress
NOT_RUN = {"batch_expired": "expired", "batch_cancelled": "canceled"}


class AnthropicRoutes:
    def __init__(self, api: BatchApi):
        self.api = api

    def handles(self, path: str) -> bool:
        return path.split("?")[0].startswith(PREFIX)

    def dispatch(
        self, method: str, route: str, headers: dict[str, str], body: bytes, query: str = ""
    ) -> BatchReply:
        host = headers.get("host", "127.0.0.1")
        if method == "POST" and route == PREFIX:
            return self._create(json.loads(body), host)
        if method == "GET" and route == PREFIX:
            data = [self._json(b, host) for b in self.api.listed("anthropic", query)]
            page = {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
            return self._reply(200, page)
        match = re.fullmatch(PREFIX + r"/([^/]+)(/cancel|/results)?", route)
        batch = self.api.batches.get(match[1]) if match else None
        if match is None or batch is None or batch.kind != "anthropic":
            error = {"type": "error", "error": {"type": "not_found_error", "message": route}}
            return self._reply(404, error)
        if match[2] == "/cancel" and method == "POST":
            self.api.cancel(batch)
            return self._reply(200, self._json(batch, host))
        if match[2] == "/results" and method == "GET":
            return self._results(batch)
        self.api.step(batch)
        return self._reply(200, self._json(batch, host))

    def _create(self, request: dict[str, Any], host: str) -> BatchReply:
        lines = [{"custom_id": r["custom_id"], "body": r["params"]} for r in request["requests"]]
        file_id = f"anthropic-input-{len(self.api.files)}"
        self.api.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        batch = self.api.new_batch(file_id, {}, "anthropic")
        batch.refusal = None  # the Messages API refuses a bad request at create, not later
        batch.status = "in_progress"
        return self.api.created(self._json(batch, host))

    def _json(self, batch: Batch, host: str) -> dict[str, Any]:
        status = STATUS.get(batch.status, "in_progress")
        total = batch.counts["total"]
        done = batch.counts["completed"]
        counts = {"processing": total - done, "succeeded": done, "errored": 0}
        counts |= {"canceled": 0, "expired": 0}
        if status == "ended":
            left = "expired" if batch.status == "expired" else "canceled"
            counts |= {"processing": 0, "succeeded": done, left: total - done}
        created = dt.datetime.fromtimestamp(batch.created_wall, dt.UTC)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "expires_at": (created + dt.timedelta(hours=24)).isoformat().replace("+00:00", "Z"),
            "ended_at": created.isoformat().replace("+00:00", "Z") if status == "ended" else None,
            "archived_at": None,
            "cancel_initiated_at": None
            if batch.status not in ("cancelling", "cancelled")
            else created.isoformat().replace("+00:00", "Z"),
            "results_url": f"http://{host}{PREFIX}/{batch.id}/results"
            if status == "ended"
            else None,
        }

    def _results(self, batch: Batch) -> BatchReply:
        lines = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id is not None:
                lines += self.api.lines(file_id)
        results = [
            json.dumps({"custom_id": line["custom_id"], "result": _result(line)}) for line in lines
        ]
        return BatchReply(200, "".join(r + "\n" for r in results).encode())

    def _reply(self, status: int, payload: object) -> BatchReply:
        return BatchReply(status, json.dumps(payload).encode())


def _result(line: dict[str, Any]) -> dict[str, Any]:
    response = line.get("response")
    if response is None:
        return {"type": NOT_RUN.get((line.get("error") or {}).get("code", ""), "expired")}
    if response["status_code"] != 200:
        error = {"type": "api_error", "message": response["body"]["error"]["message"]}
        return {"type": "errored", "error": {"type": "error", "error": error, "request_id": None}}
    return {"type": "succeeded", "message": response["body"]}
