"""The fine-tuning subset of api.openai.com/v1 faked at the httpx transport layer
(shared/api/openai-finetuning.yaml), including fields and statuses the spec omits."""

from __future__ import annotations

import base64
import json
import uuid

import httpx

from tests.fakes.server import FakeServer

OPENAI_KEY = "sk-proj-TESTKEYabcdefghijklmnop9876"

RESULT_CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,2.5,0.41,,\n"
    "2,2.1,0.48,2.3,0.45\n"
    "3,1.7,0.55,,\n"
    "4,1.2,0.66,1.5,0.61\n"
)


class FakeOpenAI(FakeServer):
    """The fine-tuning subset of api.openai.com/v1, including fields and statuses the spec omits."""

    key = OPENAI_KEY

    def __init__(
        self, *, events_per_job: int = 0, result_csv: str = RESULT_CSV, base64_results: bool = False
    ):
        super().__init__()
        self.files: dict[str, dict] = {}
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}  # oldest first; served newest first
        self.checkpoints: dict[str, list[dict]] = {}
        self.idempotency: dict[str, str] = {}
        self.result_csv = result_csv
        self.base64_results = base64_results
        self.events_per_job = events_per_job
        self.models = [
            {"id": "gpt-4o-mini-2024-07-18", "object": "model", "created": 1721172741, "owned_by": "system"},
            {"id": "gpt-4.1-nano-2025-04-14", "object": "model", "created": 1744321025, "owned_by": "system"},
            {
                "id": "dall-e-3",
                "object": "model",
                "created": 1698785189,
                "owned_by": "system",
                "shutdown_date": None,
            },
            {
                "id": "ft:gpt-4o-mini-2024-07-18:acme::AbC123",
                "object": "model",
                "created": 1730000000,
                "owned_by": "user-acme",
            },
        ]

    # --- helpers for tests -----------------------------------------------------------------
    def add_job(
        self,
        *,
        status: str = "succeeded",
        n_events: int = 0,
        n_metrics: int = 0,
        with_results: bool = True,
        checkpoints: int = 0,
        **extra,
    ) -> dict:
        jid = "ftjob-" + uuid.uuid4().hex[:24]
        job = {
            "object": "fine_tuning.job",
            "id": jid,
            "model": "gpt-4o-mini-2024-07-18",
            "created_at": 1721764800,
            "finished_at": 1721768400 if status in ("succeeded", "failed", "cancelled") else None,
            "fine_tuned_model": f"ft:gpt-4o-mini-2024-07-18:acme::{jid[-8:]}"
            if status == "succeeded"
            else None,
            "organization_id": "org-123",
            "result_files": [],
            "status": status,
            "validation_file": None,
            "training_file": "file-train",
            "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
            "trained_tokens": 5768 if status == "succeeded" else None,
            "error": {}
            if status != "failed"
            else {
                "code": "invalid_training_file",
                "param": "training_file",
                "message": "The job failed due to an invalid training file.",
            },
            "seed": 683058546,
            "estimated_finish": None,
            "integrations": [],
            "user_provided_suffix": None,
            "method": {
                "type": "supervised",
                "supervised": {
                    "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
                },
            },
            "metadata": None,
            # Fields the spec does not list (the live API sends such things):
            "usage_metrics": None,
            "shared_with_openai": False,
            "eval_id": None,
        }
        job.update(extra)
        self.jobs[jid] = job
        events = []
        for i in range(n_events):
            events.append(self._event(jid, f"Step {i} message", created_at=1721764800 + i))
        for step in range(1, n_metrics + 1):
            events.append(
                self._event(
                    jid,
                    f"Step {step}/{n_metrics}: training loss={3 - step * 0.1:.2f}",
                    type_="metrics",
                    created_at=1721765000 + step,
                    data={
                        "step": step,
                        "train_loss": 3 - step * 0.1,
                        "train_mean_token_accuracy": 0.4 + step * 0.01,
                        "total_steps": n_metrics,
                        **({"valid_loss": 2.9 - step * 0.1} if step % 2 == 0 else {}),
                    },
                )
            )
        self.events[jid] = events
        if with_results and status == "succeeded":
            fid = self._store_file(
                "step_metrics.csv",
                base64.b64encode(self.result_csv.encode())
                if self.base64_results
                else self.result_csv.encode(),
                purpose="fine-tune-results",
            )
            job["result_files"] = [fid]
        self.checkpoints[jid] = [
            {
                "object": "fine_tuning.job.checkpoint",
                "id": f"ftckpt_{jid[-6:]}{s}",
                "created_at": 1721764867 + s,
                "fine_tuned_model_checkpoint": f"ft:gpt-4o-mini-2024-07-18:acme::{jid[-8:]}:ckpt-step-{s * 10}",
                "metrics": {
                    "step": s * 10,
                    "train_loss": 1.0 / s,
                    "full_valid_loss": 1.1 / s,
                    "full_valid_mean_token_accuracy": 0.8,
                },
                "fine_tuning_job_id": jid,
                "step_number": s * 10,
            }
            for s in range(1, checkpoints + 1)
        ]
        return job

    def _event(self, jid, message, *, type_="message", level="info", created_at=1721764800, data=None):
        return {
            "object": "fine_tuning.job.event",
            "id": "ftevent-" + uuid.uuid4().hex[:20],
            "created_at": created_at,
            "level": level,
            "message": message,
            "data": data or {},
            "type": type_,
        }

    def _store_file(self, filename: str | None, content: bytes, purpose: str = "fine-tune") -> str:
        fid = "file-" + uuid.uuid4().hex[:22]
        self.files[fid] = {
            "id": fid,
            "object": "file",
            "bytes": len(content),
            "created_at": 1677610602,
            "expires_at": None,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
        }
        self.file_contents[fid] = content
        return fid

    # --- routes ----------------------------------------------------------------------------
    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        parts = [p for p in path.split("/") if p]
        method = request.method
        if parts == ["files"] and method == "POST":
            return self._upload(request)
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            if parts[1] not in self.file_contents:
                return self.error(404, f"No such File object: {parts[1]}")
            return httpx.Response(200, content=self.file_contents[parts[1]])
        if len(parts) == 2 and parts[0] == "files" and method == "GET":
            if parts[1] not in self.files:
                return self.error(404, f"No such File object: {parts[1]}")
            return httpx.Response(200, json=self.files[parts[1]])
        if parts == ["models"]:
            return httpx.Response(200, json={"object": "list", "data": self.models})
        if parts == ["fine_tuning", "jobs"] and method == "POST":
            return self._create_job(request)
        if parts == ["fine_tuning", "jobs"] and method == "GET":
            return self._list(
                request,
                sorted(self.jobs.values(), key=lambda j: j["created_at"], reverse=True),
                metadata_filter=True,
            )
        if len(parts) >= 3 and parts[:2] == ["fine_tuning", "jobs"]:
            job = self.jobs.get(parts[2])
            if job is None:
                return self.error(
                    404, f"Could not find fine-tune job: {parts[2]}", code="fine_tune_not_found"
                )
            if len(parts) == 3:
                return httpx.Response(200, json=job)
            if parts[3] == "cancel":
                job["status"] = "cancelled"
                return httpx.Response(200, json=job)
            if parts[3] == "events":
                return self._list(request, list(reversed(self.events.get(job["id"], []))))
            if parts[3] == "checkpoints":
                return self._list(request, list(reversed(self.checkpoints.get(job["id"], []))))
        if parts == ["chat", "completions"]:
            return self._chat(request)
        return self.error(404, f"Unknown request URL: {method} {request.url.path}")

    def _list(self, request, items, *, metadata_filter=False):
        params = request.url.params
        if metadata_filter:
            for key, value in params.items():
                if key.startswith("metadata[") and key.endswith("]"):
                    name = key[9:-1]
                    items = [i for i in items if (i.get("metadata") or {}).get(name) == value]
        limit = int(params.get("limit", 20))
        after = params.get("after")
        if after:
            ids = [i.get("id") for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        page = items[:limit]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": page,
                "has_more": len(items) > limit,
                "first_id": page[0].get("id") if page else None,
                "last_id": page[-1].get("id") if page else None,
            },
        )

    def _upload(self, request):
        body = request.read()
        content_type = request.headers["content-type"]
        boundary = content_type.split("boundary=")[1].encode()
        fields = {}
        for part in body.split(b"--" + boundary):
            if b"\r\n\r\n" not in part:
                continue
            head, _, value = part.partition(b"\r\n\r\n")
            value = value.removesuffix(b"\r\n")
            name = head.split(b'name="')[1].split(b'"')[0].decode()
            filename = head.split(b'filename="')[1].split(b'"')[0].decode() if b"filename=" in head else None
            fields[name] = (filename, value)
        if "file" not in fields or "purpose" not in fields:
            return self.error(400, "Missing file or purpose")
        filename, content = fields["file"]
        if content.strip().startswith(b"not json"):
            return self.error(
                400,
                "Invalid file format for Fine-Tuning API. Must be .jsonl. Line 17: expected an "
                "object with a 'messages' key.",
                code="invalid_file",
            )
        fid = self._store_file(filename, content, purpose=fields["purpose"][1].decode())
        return httpx.Response(200, json=self.files[fid])

    def _create_job(self, request):
        key = request.headers.get("idempotency-key")
        if key and key in self.idempotency:
            return httpx.Response(200, json=self.jobs[self.idempotency[key]])
        body = json.loads(request.content)
        if body.get("training_file") not in self.files:
            return self.error(
                400, f"invalid training_file: {body.get('training_file')}", code="invalid_training_file"
            )
        method = body.get("method") or {"type": "supervised"}
        hp = {
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            **((method.get(method["type"]) or {}).get("hyperparameters") or {}),
        }
        job = self.add_job(
            status="validating_files",
            with_results=False,
            model=body["model"],
            training_file=body["training_file"],
            validation_file=body.get("validation_file"),
            method={"type": method["type"], method["type"]: {"hyperparameters": hp}},
            hyperparameters=hp,
            user_provided_suffix=body.get("suffix"),
            metadata=body.get("metadata"),
            seed=body.get("seed") or 42,
        )
        if key:
            self.idempotency[key] = job["id"]
        return httpx.Response(200, json=job)

    def _chat(self, request):
        body = json.loads(request.content)
        words = ["Hello", " from", " ", body["model"]]
        if not body.get("stream"):
            return httpx.Response(
                200,
                json={
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(words), "refusal": None},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 9,
                        "completion_tokens": 4,
                        "total_tokens": 13,
                        "prompt_tokens_details": {"cached_tokens": 0},
                    },
                    "system_fingerprint": "fp_1",
                    "service_tier": "default",
                },
            )
        lines = []
        for i, word in enumerate(words):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": word} if i else {"role": "assistant", "content": word},
                        "finish_reason": None,
                    }
                ],
            }
            lines.append("data: " + json.dumps(chunk))
        lines.append(
            "data: "
            + json.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            lines.append(
                "data: "
                + json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": body["model"],
                        "choices": [],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
                    }
                )
            )
        lines.append("data: [DONE]")
        return httpx.Response(
            200, content=("\n\n".join(lines) + "\n\n").encode(), headers={"content-type": "text/event-stream"}
        )


TRAINING = b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'


def account(fake: FakeOpenAI) -> FakeOpenAI:
    """An OpenAI account with a finished run (events over two pages, CSV, checkpoints), a failed
    one and one still running, all trained on the same file."""
    fake.add_job(status="succeeded", n_events=130, n_metrics=4, checkpoints=2)
    fake.add_job(status="failed", n_events=3, created_at=1721764700)
    fake.add_job(status="running", n_events=2, n_metrics=5, created_at=1721764900)
    training = fake._store_file("support-v3.jsonl", TRAINING)
    for job in fake.jobs.values():
        job["training_file"] = training
    return fake
