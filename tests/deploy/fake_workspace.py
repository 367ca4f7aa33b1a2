"""A fake Databricks workspace on loopback: Jobs 2.2, Pipelines, Workspace and OAuth M2M.

It speaks the REST paths and JSON shapes that databricks-sdk 0.162 uses, keeps jobs, pipelines
and workspace objects in memory, records every API request (method, path, query, JSON body and
the bearer token that authorised it), and can be told to fail the next matching request with a
given status. Tokens: personal/user tokens are registered with :meth:`FakeWorkspace.add_token`;
an OAuth client registered with :meth:`FakeWorkspace.add_oauth_client` gets a fresh access token
from ``POST /oidc/v1/token`` (the client-credentials flow the SDK runs for a service principal).
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import itertools
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The job list API leaves these out unless expand_tasks=true.
_LIST_HIDDEN = ("tasks", "job_clusters", "environments", "parameters")


@dataclass(frozen=True)
class Request:
    """One API request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    token: str | None

    def call(self) -> tuple[str, str, dict[str, str], Any]:
        """(method, path, query, body): what a dry-run plan lists for this request."""
        return self.method, self.path, self.query, self.body


@dataclass
class Failure:
    method: str
    path: str
    status: int
    error_code: str
    message: str
    times: int


@dataclass
class State:
    """Everything the fake workspace holds; tests read it directly."""

    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # token -> principal
    oauth_clients: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (secret, who)
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    directories: set[str] = field(default_factory=lambda: {"/", "/Users", "/Shared"})
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))
    lock: threading.Lock = field(default_factory=threading.Lock)


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


class Handler(http.server.BaseHTTPRequestHandler):
    state: State

    def log_message(self, *args: Any) -> None:
        pass

    # --- plumbing ------------------------------------------------------------------------

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def _bearer(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" and value else None

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self._body()
        if url.path.startswith("/oidc/") or url.path.startswith("/.well-known/"):
            self._oauth(method, url.path, raw)
            return
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = json.loads(raw) if raw else None
        token = self._bearer()
        st = self.state
        with st.lock:
            st.requests.append(Request(method, url.path, query, body, token))
        try:
            if token is None or token not in st.tokens:
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
            for failure in st.failures:
                if failure.method == method and failure.path == url.path and failure.times:
                    failure.times -= 1
                    # Echo the credential back, as a careless proxy might: callers must scrub it.
                    raise ApiError(failure.status, failure.error_code,
                                   failure.message.replace("{token}", token))
            with st.lock:
                reply = self._route(method, url.path, query, body or {}, st.tokens[token])
            self._send(200, reply)
        except ApiError as err:
            self._send(err.status, {"error_code": err.error_code, "message": err.message})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # --- OAuth (service principal) ---------------------------------------------------------

    def _oauth(self, method: str, path: str, raw: bytes) -> None:
        base = self.state.base_url
        if path == "/.well-known/databricks-config":
            self._send(200, {"workspace_id": "1234567890", "oidc_endpoint": f"{base}/oidc"})
        elif path == "/oidc/.well-known/oauth-authorization-server":
            self._send(200, {"authorization_endpoint": f"{base}/oidc/v1/authorize",
                             "token_endpoint": f"{base}/oidc/v1/token"})
        elif path == "/oidc/v1/token" and method == "POST":
            scheme, _, value = self.headers.get("Authorization", "").partition(" ")
            pair = base64.b64decode(value).decode() if scheme == "Basic" else ":"
            client_id, _, secret = pair.partition(":")
            form = parse_qs(raw.decode())
            known = self.state.oauth_clients.get(client_id)
            if known is None or known[0] != secret or form.get("grant_type") != [
                "client_credentials"
            ]:
                self._send(401, {"error": "invalid_client"})
                return
            token = f"sp-{secrets.token_hex(8)}"
            with self.state.lock:
                self.state.tokens[token] = known[1]
            self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        else:
            self._send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": path})

    # --- REST API --------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any], who: str
    ) -> Any:
        st = self.state
        match method, path:
            case "POST", "/api/2.0/workspace/mkdirs":
                return self._mkdirs(body["path"])
            case "POST", "/api/2.0/workspace/import":
                return self._import(body)
            case "GET", "/api/2.0/workspace/get-status":
                return self._status(query["path"])
            case "POST", "/api/2.2/jobs/create":
                job_id = next(st.job_ids)
                st.jobs[job_id] = {"job_id": job_id, "creator_user_name": who,
                                   "settings": body, "created_time": 1_700_000_000_000}
                return {"job_id": job_id}
            case "POST", "/api/2.2/jobs/reset":
                job = self._job(int(body["job_id"]))
                job["settings"] = body["new_settings"]
                return {}
            case "GET", "/api/2.2/jobs/get":
                return self._job(int(query["job_id"]))
            case "GET", "/api/2.2/jobs/list":
                return self._list_jobs(query)
            case "POST", "/api/2.0/pipelines":
                pipeline_id = str(uuid.uuid4())
                spec = {**body, "id": pipeline_id}
                st.pipelines[pipeline_id] = {"pipeline_id": pipeline_id, "spec": spec,
                                             "name": body.get("name"), "state": "IDLE",
                                             "creator_user_name": who}
                return {"pipeline_id": pipeline_id, "effective_settings": spec}
            case "GET", "/api/2.0/pipelines":
                return self._list_pipelines(query)
        if path.startswith("/api/2.0/pipelines/"):
            pipeline_id = path.removeprefix("/api/2.0/pipelines/")
            pipeline = st.pipelines.get(pipeline_id)
            if pipeline is None:
                raise ApiError(404, "RESOURCE_DOES_NOT_EXIST",
                               f"The specified pipeline {pipeline_id} was not found.")
            if method == "GET":
                return pipeline
            if method == "PUT":
                pipeline["spec"] = {**body, "id": pipeline_id}
                pipeline["name"] = body.get("name")
                return {}
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")

    def _mkdirs(self, path: str) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:i])
            if prefix in self.state.objects:
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS",
                               f"Path ({prefix}) already exists and is not a directory.")
            self.state.directories.add(prefix)
        return {}

    def _import(self, body: dict[str, Any]) -> dict[str, Any]:
        path = body["path"]
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.state.directories:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"The parent folder ({parent}) does "
                           "not exist.")
        if path in self.state.objects and not body.get("overwrite"):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
        if path in self.state.directories:
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) is a directory.")
        self.state.objects[path] = {
            "object_type": "NOTEBOOK" if body.get("language") else "FILE",
            "language": body.get("language"),
            "format": body.get("format"),
            "content": base64.b64decode(body.get("content", "")).decode(),
            "object_id": abs(hash(path)) % 10**12,
        }
        return {}

    def _status(self, path: str) -> dict[str, Any]:
        if path in self.state.directories:
            return {"path": path, "object_type": "DIRECTORY"}
        obj = self.state.objects.get(path)
        if obj is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")
        return {"path": path, "object_type": obj["object_type"], "language": obj["language"],
                "object_id": obj["object_id"]}

    def _job(self, job_id: int) -> dict[str, Any]:
        job = self.state.jobs.get(job_id)
        if job is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Job {job_id} does not exist.")
        return job

    def _list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        name = query.get("name")
        found = [
            {**job, "settings": {k: v for k, v in job["settings"].items()
                                 if k not in _LIST_HIDDEN}}
            for job in sorted(self.state.jobs.values(), key=lambda j: -j["job_id"])
            if name is None or str(job["settings"].get("name", "")).lower() == name.lower()
        ]
        return {"jobs": found, "has_more": False} if found else {"has_more": False}

    def _list_pipelines(self, query: dict[str, str]) -> dict[str, Any]:
        filt = query.get("filter", "")
        match = re.fullmatch(r"name LIKE '((?:[^']|'')*)'", filt)
        if filt and match is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Invalid filter: {filt}")
        like = _like(match.group(1).replace("''", "'")) if match else None
        statuses = [
            {"pipeline_id": p["pipeline_id"], "name": p["name"], "state": p["state"],
             "creator_user_name": p["creator_user_name"]}
            for p in self.state.pipelines.values()
            if like is None or like.fullmatch(str(p["name"]))
        ]
        return {"statuses": statuses} if statuses else {}


class FakeWorkspace:
    """A running fake workspace; use as a context manager or call :meth:`close`."""

    def __init__(self) -> None:
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.state.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- set-up ----------------------------------------------------------------------------

    def add_token(self, token: str, principal: str) -> None:
        """Accept ``token`` as a bearer token acting as ``principal``."""
        self.state.tokens[token] = principal

    def add_oauth_client(self, client_id: str, secret: str, principal: str) -> None:
        """Accept the client-credentials grant of a service principal."""
        self.state.oauth_clients[client_id] = (secret, principal)

    def fail(
        self, method: str, path: str, status: int, error_code: str, message: str, times: int = 1
    ) -> None:
        """Answer the next ``times`` requests to ``method path`` with an error.

        ``{token}`` in ``message`` is replaced by the caller's bearer token.
        """
        self.state.failures.append(Failure(method, path, status, error_code, message, times))

    # --- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every API request so far (OAuth and host-metadata requests are not included)."""
        with self.state.lock:
            return list(self.state.requests)

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()
