"""OpenAI's Batch API on the loopback wire server: ``/v1/files`` and ``/v1/batches``, as the
real ``openai`` SDK calls them (multipart upload, create with metadata, retrieve, list with
``has_more``, cancel with an empty body, file content as raw JSONL).

Each line of a batch is answered as the same body would be in realtime (the server's own
reply function), so a batch run and a realtime run can be compared record for record.

Time is virtual: every retrieve of a batch moves it one step (validating -> in_progress ->
finalizing -> completed), so a test runs a 24-hour batch in milliseconds; or, with
``latency_s``, a batch completes that many real seconds after its create (benchmarks). Knobs:
- ``drop_creates``: the first N creates make the batch, then reset the connection instead of
  answering (what a client sees of a timeout after the server accepted);
- ``expire_batches``: the first N batches expire after in_progress, half their lines
  finished (in the output file, billed) and the rest ``batch_expired`` lines in the error file;
- a request for ``FLAKY_MODEL`` fails once, an HTTP 500 line in the error file;
- cancel: ``cancelling`` until the next poll, then ``cancelled`` with half its lines run
  (or those its counts showed done);
- ``straggle_polls``: a batch in_progress shows all lines but one done for N polls, then
  completes (a straggler, for a cancel at a share done);
- ``list_lag``: a new batch is missing from the first N lists (a list that lags a create);
- a list shows at most its ``limit``, and a batch in it that nobody polled for
  ``UNPOLLED_STEP_S`` moves a step (time passes for it too: a batch whose id a killed run
  never stored still ends);
- ``refuse_batches``: the first N batches fail validation, ``token_limit_exceeded`` (a batch
  holding a request for the model ``REFUSED_MODEL`` always fails validation, ``model_not_found``).
Counted for ``/stats``: batches created, lines billed, and each custom_id billed or submitted
again while an earlier batch holding it is live or billed it (a duplicate submission).
Standard library only."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FILES_PATH = "/v1/files"
BATCHES_PATH = "/v1/batches"
STEPS = ("validating", "in_progress", "finalizing", "completed")
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
REFUSED_MODEL = "batch-refused"
UNPOLLED_STEP_S = 0.5  # a batch nobody polls moves a step at most this often (seen in a list)
FLAKY_MODEL = "batch-flaky"  # each request fails with an HTTP 500 line once, then runs
Answer = Callable[[dict[str, Any]], dict[str, Any]]  # a request body -> the API's reply


@dataclass
class BatchReply:
    status: int
    body: bytes
    reset: bool = False


@dataclass
class Batch:
    id: str
    input_file_id: str
    metadata: dict[str, str]
    custom_ids: list[str]
    created_at: int
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    expire: bool = False
    refusal: str | None = None  # the code it fails validation with
    kind: str = "openai"  # or "anthropic" (anthropic_batch_wire.py)
    started: float = field(default_factory=time.monotonic)
    created_wall: float = field(default_factory=time.time)
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0})
    straggled: int = 0  # polls it spent with one line left (straggle_polls)
    stepped: float = field(default_factory=time.monotonic)  # when it last moved a step
    unlisted: int = 0  # lists it is still missing from (list_lag)

    def as_json(self) -> dict[str, Any]:
        completed = self.counts["completed"]
        failed = self.counts["total"] - completed if self.status in TERMINAL else 0
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "input_file_id": self.input_file_id,
            "created_at": self.created_at,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "metadata": self.metadata,
            "errors": None
            if self.refusal is None
            else {
                "object": "list",
                "data": [{"code": self.refusal, "message": "refused", "line": None, "param": None}],
            },
            "request_counts": {
                "total": self.counts["total"],
                "completed": completed,
                "failed": failed,
            },
        }


@dataclass
class BatchStats:
    batches_created: int = 0
    creates_dropped: int = 0
    lines_billed: int = 0
    billed: Counter[str] = field(default_factory=Counter)  # custom_id -> times billed
    duplicate_submissions: int = 0  # custom_ids sent while live or already billed
    paid_twice: int = 0  # realtime calls of a body a batch ran
    polls: Counter[str] = field(default_factory=Counter)  # batch id -> retrieves

    def as_json(self) -> dict[str, Any]:
        return {
            "batches_created": self.batches_created,
            "creates_dropped": self.creates_dropped,
            "lines_billed": self.lines_billed,
            "billed_twice": sum(1 for n in self.billed.values() if n > 1),
            "duplicate_submissions": self.duplicate_submissions,
            "paid_twice": self.paid_twice,
            "most_polls": max(self.polls.values(), default=0),
            "polls": sum(self.polls.values()),
        }


class BatchApi:
    """The files and batches of one server process."""

    def __init__(
        self,
        answers: dict[str, Answer],  # per kind
        drop_creates: int = 0,
        expire_batches: int = 0,
        latency_s: float = 0,
        refuse_batches: int = 0,
        *,
        straggle_polls: int = 0,
        list_lag: int = 0,
    ):
        self.answers = answers
        self.straggle_polls, self.list_lag = straggle_polls, list_lag
        self.refuse_batches = refuse_batches
        self.latency_s = latency_s
        self.drop_creates = drop_creates
        self.expire_batches = expire_batches
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, Batch] = {}
        self.billed_bodies: set[str] = set()  # what a batch ran: not to be paid for again
        self.failed_once: set[str] = set()  # FLAKY_MODEL's custom_ids that failed once
        self.stats = BatchStats()

    def realtime_call(self, body: dict[str, Any]) -> None:
        """A realtime call answered: counted if a batch already ran (and billed) its body."""
        if canonical(body) in self.billed_bodies:
            self.stats.paid_twice += 1

    def handles(self, path: str) -> bool:
        return path.split("?")[0].startswith((FILES_PATH, BATCHES_PATH))

    def dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> BatchReply:
        route, _, query = path.partition("?")
        if method == "POST" and route == FILES_PATH:
            return self._upload(headers, body)
        if method == "GET" and (match := re.fullmatch(r"/v1/files/([^/]+)/content", route)):
            found = self.files.get(match[1])
            return BatchReply(200, found) if found is not None else _missing("file", match[1])
        if method == "POST" and route == BATCHES_PATH:
            return self._create(json.loads(body))
        if method == "GET" and route == BATCHES_PATH:
            return self._list(query)
        if match := re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", route):
            batch = self.batches.get(match[1])
            if batch is None:
                return _missing("batch", match[1])
            if match[2] and method == "POST":
                return self.cancel(batch)
            if method == "GET":
                self.step(batch)
                return _ok(batch.as_json())
        return _missing("path", route)

    def _upload(self, headers: dict[str, str], body: bytes) -> BatchReply:
        head = f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        parts = {
            part.get_param("name", header="content-disposition"): part
            for part in message.iter_parts()
        }
        content = parts["file"].get_payload(decode=True)
        assert isinstance(content, bytes)
        file_id = f"file-{hashlib.sha256(content).hexdigest()[:24]}-{len(self.files)}"
        self.files[file_id] = content
        return _ok(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": 0,
                "filename": "batch_input.jsonl",
                "purpose": "batch",
                "status": "processed",
            }
        )

    def _create(self, request: dict[str, Any]) -> BatchReply:
        file_id = str(request.get("input_file_id", ""))
        if file_id not in self.files:
            return _missing("file", file_id)
        batch = self.new_batch(file_id, dict(request.get("metadata") or {}), "openai")
        return self.created(batch.as_json())

    def created(self, payload: dict[str, Any]) -> BatchReply:
        """A create's reply, or (drop_creates) a reset once the batch is made."""
        if self.stats.creates_dropped < self.drop_creates:
            self.stats.creates_dropped += 1
            return BatchReply(0, b"", reset=True)
        return _ok(payload)

    def new_batch(self, file_id: str, metadata: dict[str, str], kind: str) -> Batch:
        """A batch of the lines of an input file (duplicate submissions counted)."""
        lines = self.lines(file_id)
        custom_ids = [line["custom_id"] for line in lines]
        for custom_id in custom_ids:
            if self._live_or_billed(custom_id):
                self.stats.duplicate_submissions += 1
        batch = Batch(
            id=f"batch_{len(self.batches):06d}",
            input_file_id=file_id,
            metadata=metadata,
            custom_ids=custom_ids,
            created_at=len(self.batches),
            expire=self.stats.batches_created < self.expire_batches,
            kind=kind,
            unlisted=self.list_lag,
        )
        if any(line["body"].get("model") == REFUSED_MODEL for line in lines):
            batch.refusal = "model_not_found"
        elif self.stats.batches_created < self.refuse_batches:
            batch.refusal = "token_limit_exceeded"
        batch.counts["total"] = len(lines)
        self.batches[batch.id] = batch
        self.stats.batches_created += 1
        return batch

    def lines(self, file_id: str) -> list[dict[str, Any]]:
        text = self.files[file_id].decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def _live_or_billed(self, custom_id: str) -> bool:
        if self.stats.billed[custom_id]:
            return True
        return any(
            custom_id in b.custom_ids for b in self.batches.values() if b.status not in TERMINAL
        )

    def listed(self, kind: str, query: str) -> list[Batch]:
        """The batches a list shows, newest first, at most its `limit` (one that lags its
        create left out); one not polled for UNPOLLED_STEP_S moves a step, as time passes
        for every batch, not only for those polled."""
        limit = int(_query(query).get("limit", "20"))
        shown: list[Batch] = []
        for batch in sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True):
            if batch.kind != kind or len(shown) == limit:
                continue
            if batch.unlisted > 0:
                batch.unlisted -= 1
                continue
            if time.monotonic() - batch.stepped >= UNPOLLED_STEP_S:
                self.step(batch, polled=False)
            shown.append(batch)
        return shown

    def _list(self, query: str) -> BatchReply:
        after = _query(query).get("after")
        newest = self.listed("openai", query)
        if after is not None:
            newest = [b for b in newest if b.id < after]
        data = [b.as_json() for b in newest]
        return _ok(
            {
                "object": "list",
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def cancel(self, batch: Batch) -> BatchReply:
        """`cancelling` until the next poll, which finds it `cancelled` with half its lines
        run (and billed): what ran while the cancel was pending."""
        if batch.status not in TERMINAL:
            batch.status = "cancelling"
        return _ok(batch.as_json())

    def step(self, batch: Batch, polled: bool = True) -> None:
        """One poll's worth of virtual time."""
        self.stats.polls[batch.id] += polled
        batch.stepped = time.monotonic()
        if batch.status in TERMINAL:
            return
        if batch.status == "cancelling":
            finished = batch.counts["completed"] or len(batch.custom_ids) // 2
            self._finish(batch, "cancelled", finished=finished)
            return
        if batch.refusal is not None:
            batch.status = "failed"
            return
        if self.latency_s > 0:
            done = time.monotonic() - batch.started >= self.latency_s
            if done:
                self._finish(batch, "completed", finished=len(batch.custom_ids))
            else:
                batch.status = "in_progress"
            return
        if batch.expire and batch.status == "in_progress":
            self._finish(batch, "expired", finished=len(batch.custom_ids) // 2)
            return
        if batch.status == "in_progress" and batch.straggled < self.straggle_polls:
            batch.straggled += 1
            batch.counts["completed"] = len(batch.custom_ids) - 1
            return
        following = STEPS[STEPS.index(batch.status) + 1] if batch.status in STEPS else "completed"
        if following == "completed":
            self._finish(batch, "completed", finished=len(batch.custom_ids))
        else:
            batch.status = following

    def _finish(self, batch: Batch, status: str, finished: int) -> None:
        lines = self.lines(batch.input_file_id)
        done, left = lines[:finished], lines[finished:]
        failing = [line for line in done if self._fails_once(line)]
        done = [line for line in done if line not in failing]
        output = [self._answered(line, batch.kind) for line in done]
        code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(status)
        errors = [_unfinished(line, code) for line in left] if code else []
        errors += [_server_error(line) for line in failing]
        for line in done:
            self.stats.billed[line["custom_id"]] += 1
            self.billed_bodies.add(canonical(line["body"]))
        self.stats.lines_billed += len(done)
        batch.output_file_id = self._file(f"{batch.id}-output", output[::-1])  # any order
        batch.error_file_id = self._file(f"{batch.id}-errors", errors) if errors else None
        batch.counts["completed"] = len(done)
        batch.status = status

    def _fails_once(self, line: dict[str, Any]) -> bool:
        """A request for FLAKY_MODEL fails (an HTTP 500 line) the first time it is run."""
        if line["body"].get("model") != FLAKY_MODEL or line["custom_id"] in self.failed_once:
            return False
        self.failed_once.add(line["custom_id"])
        return True

    def _answered(self, line: dict[str, Any], kind: str) -> dict[str, Any]:
        body = line["body"]
        reply = self.answers[kind](body)
        return {
            "id": f"batch_req_{line['custom_id'][:12]}",
            "custom_id": line["custom_id"],
            "response": {"status_code": 200, "request_id": "req_batch", "body": reply},
            "error": None,
        }

    def _file(self, file_id: str, lines: list[dict[str, Any]]) -> str:
        self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        return file_id


def _query(query: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in query.split("&") if "=" in part)


def canonical(body: dict[str, Any]) -> str:
    """A body as compared for paying twice: the same request on any tier."""
    kept = {key: value for key, value in body.items() if key != "service_tier"}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def _server_error(line: dict[str, Any]) -> dict[str, Any]:
    error = {
        "message": "The server had an error.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    return {
        "id": f"batch_req_{line['custom_id'][:12]}",
        "custom_id": line["custom_id"],
        "response": {"status_code": 500, "request_id": "req_batch", "body": {"error": error}},
        "error": None,
    }


def _unfinished(line: dict[str, Any], code: str) -> dict[str, Any]:
    message = "This request could not be executed before the completion window expired."
    return {
        "id": f"batch_req_{line['custom_id'][:12]}",
        "custom_id": line["custom_id"],
        "response": None,
        "error": {"code": code, "message": message},
    }


def _ok(payload: object) -> BatchReply:
    return BatchReply(200, json.dumps(payload).encode())


def _missing(kind: str, name: str) -> BatchReply:
    error = {
        "message": f"No {kind} {name!r}.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return BatchReply(404, json.dumps({"error": error}).encode())
