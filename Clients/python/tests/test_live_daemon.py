"""The Python client against a live tailord.

Scripts/test.sh starts a daemon serving the committed tiny llama model and runs these with
TAILOR_TEST_SOCKET and TAILOR_TEST_MODEL set; without them the tests skip.
"""

import hashlib
import json
import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tailor_client import Client, Generation, TailorError, decode_frames, encode_frame, frame_pb2  # noqa: E402
from tailor.v1 import decoding_pb2  # noqa: E402

SOCKET = os.environ.get("TAILOR_TEST_SOCKET")
MODEL = os.environ.get("TAILOR_TEST_MODEL")


@unittest.skipUnless(
    SOCKET and MODEL, "no live daemon (set TAILOR_TEST_SOCKET and TAILOR_TEST_MODEL; Scripts/test.sh does)"
)
class LiveDaemonTests(unittest.TestCase):
    def setUp(self):
        self.client = Client(SOCKET, timeout=30)

    def tearDown(self):
        self.client.close()

    def test_hello_health_and_models(self):
        self.assertEqual(self.client.hello.version, 1)
        self.assertEqual(self.client.hello.max_frame_bytes, 4 << 20)
        health = self.client.health()
        self.assertIn("tiny", list(health.models))
        models = {m.id: m for m in self.client.list_models()}
        tiny = models["tiny"]
        self.assertEqual(tiny.architecture, "llama")
        with open(MODEL, "rb") as f:
            self.assertEqual(tiny.sha256, hashlib.sha256(f.read()).hexdigest())
        self.assertEqual(tiny.file_bytes, os.path.getsize(MODEL))

    def test_generate_streams_tokens_then_stats(self):
        g = self.client.generate(prompt="the quick brown fox", model="tiny", max_tokens=10)
        events = list(g)
        tokens = [e for e in events if isinstance(e, decoding_pb2.TokenEvent)]
        self.assertIsInstance(events[-1], decoding_pb2.GenerateStats)
        self.assertEqual(g.stats.generated_tokens, len(tokens))
        self.assertLessEqual(len(tokens), 10)
        self.assertGreater(g.stats.prompt_tokens, 0)
        self.assertTrue(all(t.logprob <= 0 for t in tokens))
        # text is the UTF-8 decoding of the raw bytes, never a partial character.
        raw = b"".join(t.token_bytes for t in tokens)
        self.assertEqual(g.text, raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd"))
        # Greedy decoding repeats exactly.
        again = self.client.generate(prompt="the quick brown fox", model="tiny", max_tokens=10)
        self.assertEqual(again.result(), g.text)
        # ... and its prompt came from the prompt cache.
        self.assertEqual(again.stats.prompt_tokens, g.stats.prompt_tokens)
        self.assertGreater(again.stats.cached_tokens, 0)

    def test_streams_multiplex_on_one_connection(self):
        a = self.client.generate(prompt="alpha", max_tokens=6, model="tiny")
        b = self.client.generate(prompt="beta", max_tokens=6, model="tiny")
        text_b = b.result()
        text_a = a.result()
        self.assertEqual(text_a, self.client.generate(prompt="alpha", max_tokens=6, model="tiny").result())
        self.assertEqual(text_b, self.client.generate(prompt="beta", max_tokens=6, model="tiny").result())

    def test_cancel_and_deadline(self):
        # The Request and its Cancel go out in one write, so the daemon reads the Cancel before
        # the generation can finish. (Cancelling after the first token raced: the tiny model
        # fills its 128-token context in a few milliseconds, sooner than a loaded CI host
        # schedules the client again.)
        stream = self.client._next_stream
        self.client._next_stream += 2
        request = decoding_pb2.GenerateRequest(model="tiny", prompt="on and on", max_tokens=240)
        frames = [
            frame_pb2.Frame(
                stream_id=stream,
                request=frame_pb2.Request(
                    service="tailor.v1.Decoding", method="Generate", payload=request.SerializeToString()
                ),
            ),
            frame_pb2.Frame(stream_id=stream, cancel=frame_pb2.Cancel(reason="changed my mind")),
        ]
        self.client._sock.sendall(b"".join(encode_frame(f) for f in frames))
        with self.assertRaises(TailorError) as cm:
            Generation(self.client, stream).result()
        self.assertEqual(cm.exception.code_name, "CANCELLED")
        slow = self.client.generate(prompt="on and on", model="tiny", max_tokens=240, timeout_ms=1)
        with self.assertRaises(TailorError) as cm:
            slow.result()
        self.assertEqual(cm.exception.code_name, "DEADLINE_EXCEEDED")
        # The connection is still usable.
        self.assertIn("tiny", list(self.client.health().models))

    def test_dry_sampling_reaches_the_daemon(self):
        text = self.client.generate(
            prompt="the theme", model="tiny", max_tokens=8, dry_multiplier=0.8, dry_sequence_breakers=["\n"]
        ).result()
        self.assertIsInstance(text, str)
        with self.assertRaises(TailorError) as cm:
            self.client.generate(
                prompt="the theme", model="tiny", max_tokens=8, dry_multiplier=0.8, dry_sequence_breakers=["x"] * 17
            ).result()
        self.assertEqual((cm.exception.code_name, cm.exception.field), ("INVALID_ARGUMENT", "generate.sampling"))
        self.assertIn("dry_sequence_breakers", str(cm.exception))

    def test_errors_are_typed_and_name_the_field(self):
        with self.assertRaises(TailorError) as cm:
            self.client.generate(prompt="x", model="ghost").result()
        self.assertEqual(cm.exception.code_name, "NOT_FOUND")
        with self.assertRaises(TailorError) as cm:
            self.client.generate(chat=[("wizard", "hi")], model="tiny").result()
        self.assertEqual(
            (cm.exception.code_name, cm.exception.field), ("INVALID_ARGUMENT", "generate.chat.messages.role")
        )
        with self.assertRaises(TailorError) as cm:
            self.client.call("tailor.v1.Jobs", "Explode", frame_pb2.Cancel())
        self.assertEqual(cm.exception.code_name, "UNIMPLEMENTED")
        # Bad UTF-8 in the prompt (field 2), which Python's protobuf would refuse to build.
        stream = self.client._next_stream
        self.client._next_stream += 2
        bad = bytes([0x0A, 0x04]) + b"tiny" + bytes([0x12, 0x02, 0xC3, 0x28])
        self.client._send(
            stream, request=frame_pb2.Request(service="tailor.v1.Decoding", method="Generate", payload=bad)
        )
        with self.assertRaises(TailorError) as cm:
            self.client._unary_result(stream)
        self.assertEqual((cm.exception.code_name, cm.exception.field), ("INVALID_ARGUMENT", "generate.prompt"))

    def test_adapters_upload_personalize_download(self):
        lora = os.path.join(os.path.dirname(MODEL), "..", "lora", "llama-user-peft")
        with open(os.path.join(lora, "adapter_config.json")) as f:
            config = f.read()
        with open(os.path.join(lora, "adapter_model.safetensors"), "rb") as f:
            weights = f.read()
        info = self.client.import_adapter("py-task", weights, user="Ada Lovelace", peft_config_json=config)
        self.assertEqual(info.ref.version, 1)
        self.assertEqual(info.versions[0].sha256, hashlib.sha256(weights).hexdigest())
        header, data = self.client.export_adapter("py-task", user="Ada Lovelace")
        self.assertEqual(data, weights)
        self.assertEqual(header.bytes, len(weights))
        plain = self.client.generate(prompt="the quick brown fox", model="tiny", max_tokens=8).result()
        g = self.client.generate(
            prompt="the quick brown fox", model="tiny", max_tokens=8, user="Ada Lovelace", task="py-task"
        )
        personal = g.result()
        self.assertNotEqual(plain, personal)
        # The stats say what ran: the imported user adapter (no task adapter), as asked.
        self.assertEqual((g.stats.mode, g.stats.fallback), ("oppu", False))
        self.assertEqual([(a.kind, a.user, a.version) for a in g.stats.adapters], [("user", "Ada Lovelace", 1)])
        # A mode that cannot run as asked is refused with the next step, or run otherwise on request.
        with self.assertRaises(TailorError) as cm:
            self.client.generate(prompt="x", model="tiny", max_tokens=2, user="Nobody", task="py-task").result()
        self.assertEqual(cm.exception.code_name, "FAILED_PRECONDITION")
        self.assertIn("tailor train cope --user Nobody --task py-task", str(cm.exception))
        g = self.client.generate(prompt="x", model="tiny", max_tokens=2, user="Nobody", task="py-task", fallback=True)
        g.result()
        self.assertEqual((g.stats.mode, g.stats.fallback, len(g.stats.adapters)), ("base", True, 0))
        with self.assertRaises(TailorError) as cm:
            self.client.import_adapter(
                "py-task", weights[: len(weights) // 2], user="Ada Lovelace", peft_config_json=config
            )
        self.assertEqual(cm.exception.code_name, "INVALID_ARGUMENT")
        self.client.delete_adapter("py-task", user="Ada Lovelace")
        self.assertEqual([a for a in self.client.list_adapters() if a.ref.task == "py-task"], [])

    def test_preference_data_feedback_export_and_forget(self):
        user = "Py Thon %d" % os.getpid()
        added = self.client.add_history(
            user,
            [
                {"id": "h1", "task": "email", "input": "lunch?", "output": "Lunch at 1"},
                {"id": "h2", "task": "email", "input": "standup?", "output": "Standup moved"},
            ],
        )
        self.assertEqual((added.history, added.skipped), (2, 0))
        fb = self.client.record_feedback(
            user,
            "req-1",
            "email",
            "Subject for: review",
            "Review please",
            "edited",
            kept="Please review PR 7",
            mode="cope",
        )
        self.assertEqual((fb.pairs, fb.feedback), (1, 1))
        jsonl = b'{"id": "h3", "input": "i", "output": "o"}\n{"id": "h1", "input": "lunch?", "output": "Lunch at 1"}\n'
        imported = self.client.import_data(user, jsonl, task="email")
        self.assertEqual((imported.history, imported.skipped), (1, 1))
        counts = self.client.count_data(user)
        self.assertEqual([(c.task, c.history, c.pairs, c.feedback) for c in counts], [("email", 3, 1, 1)])
        page = self.client.list_data(user, kind="pairs")
        self.assertEqual(page.pairs[0].chosen, "Please review PR 7")
        exported = self.client.export_data(user)
        self.assertEqual(len(exported.splitlines()), 3 + 1 + 1)
        sft = [json.loads(l) for l in self.client.export_data(user, format="trl-sft").splitlines()]
        self.assertIn({"prompt": "lunch?", "completion": "Lunch at 1"}, sft)
        self.assertEqual(len(sft), 3)
        dpo = [json.loads(l) for l in self.client.export_data(user, format="trl-dpo").splitlines()]
        self.assertEqual(
            dpo, [{"prompt": "Subject for: review", "chosen": "Please review PR 7", "rejected": "Review please"}]
        )
        with self.assertRaises(TailorError) as bad:
            self.client.add_history(user, [{"id": "x", "task": "email", "input": "", "output": "o"}])
        self.assertEqual(bad.exception.code, 3)
        self.assertEqual(bad.exception.field, "items[0].input")
        gone = self.client.delete_user(user)
        self.assertEqual((gone.history, gone.pairs, gone.feedback), (3, 1, 1))
        with self.assertRaises(TailorError) as unknown:
            self.client.count_data(user)
        self.assertEqual(unknown.exception.field, "user")

    def test_training_job_runs_and_publishes_an_adapter(self):
        user = "trainee-%d" % os.getpid()
        self.client.add_history(
            user, [{"id": "h%d" % i, "task": "py", "input": "the theme %d" % i, "output": "he the"} for i in range(4)]
        )
        job = self.client.submit_job("oppu", "py", user=user, epochs=1, batch_size=2, max_tokens=32)
        self.assertEqual(job.state, "queued")
        states = [info.state for info in self.client.watch_job(job.id)]
        self.assertEqual(states[-1], "succeeded", self.client.job(job.id).error)
        self.assertIn(job.id, [j.id for j in self.client.list_jobs(user=user)])
        adapters = self.client.list_adapters(user=user, task="py")
        self.assertEqual([a.ref.version for a in adapters], [1])
        with self.assertRaises(TailorError) as bad:
            self.client.submit_job("poetry", "py", user=user)
        self.assertEqual(bad.exception.field, "kind")
        self.client.delete_user(user)

    def test_autopilot_status_pause_and_resume(self):
        user = "pilot-%d" % os.getpid()
        self.client.add_history(
            user, [{"id": "h%d" % i, "task": "py", "input": "x %d" % i, "output": "y"} for i in range(3)]
        )
        status = self.client.autopilot_status(user=user)
        entry = status.entries[0]
        self.assertEqual((entry.user, entry.task, entry.pending_items), (user, "py", 3))
        self.assertEqual(entry.state, "waiting-for-data")
        self.assertEqual(entry.pi_base, "base model")
        paused = self.client.pause_autopilot(user=user)
        self.assertEqual(paused.entries[0].state, "paused")
        self.assertEqual([p.user for p in paused.pauses], [user])
        resumed = self.client.resume_autopilot(user=user)
        self.assertEqual(list(resumed.pauses), [])
        with self.assertRaises(TailorError) as bad:
            self.client.autopilot_status(user="../etc")
        self.assertEqual(bad.exception.field, "user")
        self.client.delete_user(user)

    def test_oversize_frame_gets_a_stream_zero_status_then_close(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(SOCKET)
        s.sendall(struct.pack(">I", (4 << 20) + 1))
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        frames = list(decode_frames(bytearray(data)))
        self.assertEqual(len(frames), 1)
        self.assertEqual(frames[0].stream_id, 0)
        self.assertEqual(frames[0].status.code, 8)  # RESOURCE_EXHAUSTED
        s.close()


if __name__ == "__main__":
    unittest.main()
