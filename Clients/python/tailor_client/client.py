"""A synchronous client of tailord: one connection, many streams.

The client is thin on purpose: it frames protobuf messages generated from Proto/ and maps
each stream's closing Status to a result or a TailorError. Streams are multiplexed: frames of
other streams that arrive while one is being read are kept until their stream is read.
"""

import collections
import json
import os
import socket
import stat

from tailor.v1 import (
    adapters_pb2,
    autopilot_pb2,
    decoding_pb2,
    frame_pb2,
    health_pb2,
    jobs_pb2,
    models_pb2,
    preferences_pb2,
)

from .framing import decode_frames, encode_frame

PROTOCOL_VERSION = 1
STATUS_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}


class TailorError(Exception):
    """A call ended with a non-OK Status."""

    def __init__(self, code, message, field=""):
        self.code = code
        self.code_name = STATUS_NAMES.get(code, str(code))
        self.message = message
        self.field = field
        where = f" (field {field})" if field else ""
        super().__init__(f"{self.code_name}: {message}{where}")


def _is_private_directory(path, uid):
    """A real directory (not a link) that `uid` owns and nobody else may enter."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and st.st_mode & 0o077 == 0


def default_socket_path(flag=None, environ=os.environ, uid=None, fallback_root="/tmp"):
    """--socket, then $TAILOR_SOCKET, then the user daemon's socket; without $XDG_RUNTIME_DIR
    the user daemon listens in /tmp/tailor-UID, trusted only when that directory is this user's
    alone (as the Swift client does); else the system daemon's socket."""
    if flag:
        return flag
    if environ.get("TAILOR_SOCKET"):
        return environ["TAILOR_SOCKET"]
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/"):
        return os.path.join(runtime, "tailor", "tailord.sock")
    uid = os.getuid() if uid is None else uid
    fallback = os.path.join(fallback_root, "tailor-%d" % uid)
    sock = os.path.join(fallback, "tailord.sock")
    if _is_private_directory(fallback, uid) and os.path.exists(sock):
        return sock
    return "/run/tailor/tailord.sock"


class Client:
    """A connection to tailord. Use as a context manager, or call close()."""

    def __init__(self, socket_path=None, client_name="tailor-python/0.1", timeout=60.0):
        self.socket_path = default_socket_path(socket_path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(self.socket_path)
        self._buffer = bytearray()
        self._pending = collections.defaultdict(collections.deque)
        self._next_stream = 1
        hello = frame_pb2.HelloRequest(min_version=PROTOCOL_VERSION, max_version=PROTOCOL_VERSION, client=client_name)
        self._send(
            0, request=frame_pb2.Request(service="tailor.v1.Session", method="Hello", payload=hello.SerializeToString())
        )
        reply = self._unary_result(0)
        self.hello = frame_pb2.HelloResponse.FromString(reply)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._sock.close()

    # -- framing ---------------------------------------------------------------------------

    def _send(self, stream_id, **kind):
        self._sock.sendall(encode_frame(frame_pb2.Frame(stream_id=stream_id, **kind)))

    def _read_frame(self, stream_id):
        """The next frame of `stream_id`; frames of other streams are kept for later."""
        queue = self._pending[stream_id]
        while not queue:
            for frame in decode_frames(self._buffer):
                if frame.stream_id == 0 and stream_id != 0 and frame.WhichOneof("kind") == "status":
                    raise TailorError(frame.status.code, frame.status.message, frame.status.field)
                self._pending[frame.stream_id].append(frame)
            if queue:
                break
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("tailord closed the connection")
            self._buffer += chunk
        return queue.popleft()

    def _open(self, service, method, message, timeout_ms=0):
        stream_id = self._next_stream
        self._next_stream += 2
        self._send(
            stream_id,
            request=frame_pb2.Request(
                service=service, method=method, payload=message.SerializeToString(), timeout_ms=timeout_ms
            ),
        )
        return stream_id

    def _unary_result(self, stream_id):
        payload = None
        while True:
            frame = self._read_frame(stream_id)
            kind = frame.WhichOneof("kind")
            if kind == "response":
                payload = frame.response.payload
            elif kind == "status":
                self._pending.pop(stream_id, None)
                if frame.status.code != 0:
                    raise TailorError(frame.status.code, frame.status.message, frame.status.field)
                return payload if payload is not None else b""

    def call(self, service, method, message, timeout_ms=0):
        """A unary call; returns the response payload (bytes)."""
        return self._unary_result(self._open(service, method, message, timeout_ms))

    def cancel(self, stream_id, reason="cancelled by client"):
        """Asks the daemon to stop `stream_id`; it still ends with a Status (CANCELLED)."""
        self._send(stream_id, cancel=frame_pb2.Cancel(reason=reason))

    # -- services --------------------------------------------------------------------------

    def health(self):
        return health_pb2.HealthCheckResponse.FromString(
            self.call("tailor.v1.Health", "Check", health_pb2.HealthCheckRequest())
        )

    def list_models(self):
        return list(
            models_pb2.ListModelsResponse.FromString(
                self.call("tailor.v1.Models", "List", models_pb2.ListModelsRequest())
            ).models
        )

    def load_model(self, path, model_id=""):
        return models_pb2.ModelInfo.FromString(
            self.call("tailor.v1.Models", "Load", models_pb2.LoadModelRequest(path=os.path.abspath(path), id=model_id))
        )

    def unload_model(self, model_id):
        self.call("tailor.v1.Models", "Unload", models_pb2.UnloadModelRequest(id=model_id))

    # -- adapters --------------------------------------------------------------------------

    def list_adapters(self, user="", task=""):
        return list(
            adapters_pb2.ListAdaptersResponse.FromString(
                self.call("tailor.v1.Adapters", "List", adapters_pb2.ListAdaptersRequest(user=user, task=task))
            ).adapters
        )

    def import_adapter(self, task, weights, user=None, peft_config_json="", fmt="peft", model="", make_current=True):
        """Uploads an adapter: adapter_model.safetensors bytes with its config JSON (format
        "peft"), or a GGUF LoRA file's bytes (format "gguf"). Returns the AdapterInfo."""
        ref = adapters_pb2.AdapterRef(task=task, user=user or "", kind="user" if user else "task")
        req = adapters_pb2.ImportAdapterRequest(
            ref=ref, format=fmt, model=model, peft_config_json=peft_config_json, make_current=make_current
        )
        return adapters_pb2.AdapterInfo.FromString(self._upload("tailor.v1.Adapters", "Import", req, weights))

    def export_adapter(self, task, user=None, fmt="peft", version=0, model=""):
        """Downloads an adapter: (ExportAdapterHeader, file bytes)."""
        ref = adapters_pb2.AdapterRef(task=task, user=user or "", kind="user" if user else "task", version=version)
        stream = self._open(
            "tailor.v1.Adapters", "Export", adapters_pb2.ExportAdapterRequest(ref=ref, format=fmt, model=model)
        )
        events, data = self._download(stream)
        return (adapters_pb2.ExportAdapterHeader.FromString(events[0]) if events else None), data

    def _download(self, stream):
        """Reads a download stream to its Status: (event payloads, the Data bytes)."""
        events, data = [], b""
        while True:
            frame = self._read_frame(stream)
            kind = frame.WhichOneof("kind")
            if kind == "event":
                events.append(frame.event.payload)
            elif kind == "data":
                data += frame.data.chunk
            elif kind == "status":
                self._pending.pop(stream, None)
                if frame.status.code != 0:
                    raise TailorError(frame.status.code, frame.status.message, frame.status.field)
                return events, data

    def delete_adapter(self, task, user=None, version=0):
        ref = adapters_pb2.AdapterRef(task=task, user=user or "", kind="user" if user else "task", version=version)
        self.call("tailor.v1.Adapters", "Delete", ref)

    def _upload(self, service, method, request, data):
        stream = self._open(service, method, request)
        chunk = 1 << 20
        for offset in range(0, max(len(data), 1), chunk):
            self._send(
                stream, data=frame_pb2.Data(chunk=data[offset : offset + chunk], last=offset + chunk >= len(data))
            )
        return self._unary_result(stream)

    # Preference data (tailor.v1.Preferences). Records are dicts with the proto's field names.

    def add_history(self, user, items, owner_uid=0):
        """Adds history items ({"id", "task", "input", "output", ...}) in one transaction;
        returns the WriteDataResponse (added and skipped counts)."""
        req = preferences_pb2.AddHistoryRequest(
            user=user, owner_uid=owner_uid, items=[preferences_pb2.HistoryItem(**i) for i in items]
        )
        return preferences_pb2.WriteDataResponse.FromString(self.call("tailor.v1.Preferences", "AddHistory", req))

    def add_pairs(self, user, pairs, owner_uid=0):
        """Adds preference pairs ({"id", "task", "prompt", "chosen", "rejected"}) in one transaction."""
        req = preferences_pb2.AddPairsRequest(
            user=user, owner_uid=owner_uid, pairs=[preferences_pb2.PreferencePair(**p) for p in pairs]
        )
        return preferences_pb2.WriteDataResponse.FromString(self.call("tailor.v1.Preferences", "AddPair", req))

    def record_feedback(
        self, user, request_id, task, prompt, shown, outcome, kept="", adapters="", mode="", owner_uid=0
    ):
        """Records what the user did with a completion: outcome "accepted", "edited" (with
        `kept`) or "rejected"."""
        event = preferences_pb2.FeedbackEvent(
            request_id=request_id,
            task=task,
            prompt=prompt,
            shown=shown,
            kept=kept,
            outcome=outcome,
            adapters=adapters,
            mode=mode,
        )
        req = preferences_pb2.RecordFeedbackRequest(user=user, owner_uid=owner_uid, event=event)
        return preferences_pb2.WriteDataResponse.FromString(self.call("tailor.v1.Preferences", "RecordFeedback", req))

    def import_data(self, user, data, task="", fmt="jsonl", file_user="", first_file_bytes=0, owner_uid=0):
        """Imports a file's bytes (jsonl, per-user, or lamp = questions + outputs with
        first_file_bytes = the questions file's size)."""
        req = preferences_pb2.ImportDataRequest(
            user=user,
            owner_uid=owner_uid,
            task=task,
            format=fmt,
            file_user=file_user,
            first_file_bytes=first_file_bytes,
        )
        return preferences_pb2.WriteDataResponse.FromString(self._upload("tailor.v1.Preferences", "Import", req, data))

    def list_data(self, user, task="", kind="history", offset=0, limit=0, owner_uid=0):
        req = preferences_pb2.ListDataRequest(
            user=user, owner_uid=owner_uid, task=task, kind=kind, offset=offset, limit=limit
        )
        return preferences_pb2.ListDataResponse.FromString(self.call("tailor.v1.Preferences", "List", req))

    def count_data(self, user="", task="", owner_uid=0):
        req = preferences_pb2.CountDataRequest(user=user, owner_uid=owner_uid, task=task)
        return list(
            preferences_pb2.CountDataResponse.FromString(self.call("tailor.v1.Preferences", "Count", req)).counts
        )

    def export_data(self, user, task="", owner_uid=0, format="tailor"):
        """A user's data as JSONL bytes: Tailor's (what import_data reads back), or TRL's
        datasets as `tailor data export --format` writes them: "trl-sft" ({prompt, completion}
        per history item) or "trl-dpo" ({prompt, chosen, rejected} per pair the user gave or
        made by editing a suggestion; not the synthetic negatives)."""
        if format not in ("tailor", "trl-sft", "trl-dpo"):
            raise ValueError("format must be tailor, trl-sft or trl-dpo, not %r" % (format,))
        stream = self._open(
            "tailor.v1.Preferences",
            "Export",
            preferences_pb2.ExportDataRequest(user=user, owner_uid=owner_uid, task=task),
        )
        data = self._download(stream)[1]
        if format == "tailor":
            return data
        rows = []
        for line in data.splitlines():
            record = json.loads(line)
            if format == "trl-sft" and "input" in record and "output" in record:
                rows.append({"prompt": record["input"], "completion": record["output"]})
            elif format == "trl-dpo" and record.get("source") in ("explicit", "feedback"):
                rows.append({"prompt": record["prompt"], "chosen": record["chosen"], "rejected": record["rejected"]})
        return b"".join(json.dumps(r, sort_keys=True, ensure_ascii=False).encode() + b"\n" for r in rows)

    def delete_user(self, user, owner_uid=0):
        """Forgets a user: their data and adapters. Returns what was removed."""
        req = preferences_pb2.DeleteUserRequest(user=user, owner_uid=owner_uid)
        return preferences_pb2.DeleteUserResponse.FromString(self.call("tailor.v1.Preferences", "DeleteUser", req))

    # Training jobs (tailor.v1.Jobs).

    def submit_job(self, kind, task, user="", model="", checkpoint_every=0, **parameters):
        """Submits a tam, oppu, negatives, dpo or cope job; `parameters` are JobParameters
        fields (rank, epochs, batch_size, ...). Returns the JobInfo (queued)."""
        req = jobs_pb2.SubmitJobRequest(
            kind=kind,
            user=user,
            task=task,
            model=model,
            checkpoint_every=checkpoint_every,
            parameters=jobs_pb2.JobParameters(**parameters),
        )
        return jobs_pb2.JobInfo.FromString(self.call("tailor.v1.Jobs", "Submit", req))

    def job(self, job_id):
        return jobs_pb2.JobInfo.FromString(self.call("tailor.v1.Jobs", "Get", jobs_pb2.JobRef(id=job_id)))

    def list_jobs(self, user="", task=""):
        return list(
            jobs_pb2.ListJobsResponse.FromString(
                self.call("tailor.v1.Jobs", "List", jobs_pb2.ListJobsRequest(user=user, task=task))
            ).jobs
        )

    def cancel_job(self, job_id):
        return jobs_pb2.JobInfo.FromString(self.call("tailor.v1.Jobs", "Cancel", jobs_pb2.JobRef(id=job_id)))

    def autopilot_status(self, user="", task=""):
        """Where the daemon's own training stands for the caller's users and tasks: an
        AutopilotStatus (entries with state, pending items, the last round and its verdict)."""
        return self._autopilot("Status", user, task)

    def pause_autopilot(self, user="", task=""):
        """Stops starting rounds for `user`/`task` (empty: every one); returns the status."""
        return self._autopilot("Pause", user, task)

    def resume_autopilot(self, user="", task=""):
        """Removes the pauses inside `user`/`task` (empty: every one); returns the status."""
        return self._autopilot("Resume", user, task)

    def _autopilot(self, method, user, task):
        scope = autopilot_pb2.AutopilotScope(user=user, task=task)
        return autopilot_pb2.AutopilotStatus.FromString(self.call("tailor.v1.Autopilot", method, scope))

    def watch_job(self, job_id):
        """Yields the job's JobInfo now and at every step and state change, until it is final."""
        stream = self._open("tailor.v1.Jobs", "Watch", jobs_pb2.JobRef(id=job_id))
        while True:
            frame = self._read_frame(stream)
            kind = frame.WhichOneof("kind")
            if kind == "event":
                yield jobs_pb2.JobInfo.FromString(frame.event.payload)
            elif kind == "status":
                self._pending.pop(stream, None)
                if frame.status.code != 0:
                    raise TailorError(frame.status.code, frame.status.message, frame.status.field)
                return

    def generate(
        self,
        prompt=None,
        chat=None,
        model="",
        max_tokens=0,
        stop=(),
        timeout_ms=0,
        user="",
        task="",
        mode="",
        cope_alpha=0.0,
        cope_tau=0.0,
        fallback=False,
        **sampling,
    ):
        """Starts a generation; returns a Generation to iterate over for events.

        `chat` is a list of (role, content) pairs; `sampling` takes temperature, top_k, top_p,
        min_p, repetition_penalty, seed and DRY's dry_multiplier, dry_base, dry_allowed_length,
        dry_penalty_last_n and dry_sequence_breakers. `mode` is base, tam, oppu, dpo-only, cope
        or cd-only;
        in the CoPe modes each TokenEvent has contrastive=True, logprob (log π_user),
        logprob_base and reward. A mode whose adapters are missing raises TailorError
        FAILED_PRECONDITION naming what to train, unless `fallback` is set; the Generation's
        `stats.mode`, `stats.adapters` and `stats.fallback` say what ran.
        """
        req = decoding_pb2.GenerateRequest(
            model=model,
            max_tokens=max_tokens,
            stop=list(stop),
            user=user,
            task=task,
            mode=mode,
            cope_alpha=cope_alpha,
            cope_tau=cope_tau,
            fallback=fallback,
            sampling=decoding_pb2.Sampling(**sampling),
        )
        if chat is not None:
            req.chat.messages.extend(decoding_pb2.ChatMessage(role=r, content=c) for r, c in chat)
        else:
            req.prompt = prompt
        return Generation(self, self._open("tailor.v1.Decoding", "Generate", req, timeout_ms))


class Generation:
    """The events of one Generate stream: TokenEvent messages, then GenerateStats.

    Iterating raises TailorError if the stream ends with a non-OK Status. `text` holds the
    text received so far, `stats` the final statistics once the stream is done.
    """

    def __init__(self, client, stream_id):
        self.client = client
        self.stream_id = stream_id
        self.text = ""
        self.stats = None
        self.done = False

    def cancel(self):
        self.client.cancel(self.stream_id)

    def __iter__(self):
        while not self.done:
            frame = self.client._read_frame(self.stream_id)
            kind = frame.WhichOneof("kind")
            if kind == "event":
                event = decoding_pb2.GenerateEvent.FromString(frame.event.payload)
                if event.WhichOneof("kind") == "token":
                    self.text += event.token.text
                    yield event.token
                else:
                    self.stats = event.stats
                    self.text += event.stats.tail_text
                    yield event.stats
            elif kind == "status":
                self.done = True
                self.client._pending.pop(self.stream_id, None)
                if frame.status.code != 0:
                    raise TailorError(frame.status.code, frame.status.message, frame.status.field)

    def result(self):
        """Runs the stream to its end and returns the whole text."""
        for _ in self:
            pass
        return self.text
