"""Together's /v1/files/upload and /v1/fine-tunes… faked at the httpx transport layer
(shared/api/together-finetuning.md)."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.fakes.server import FakeServer

TOGETHER_KEY = "tgp_v1_TESTKEYqrstuvwxyz5432"


class FakeTogether(FakeServer):
    """Together's /v1/files/upload and /v1/fine-tunes… shapes (together-finetuning.md), as the SDKs see them:
    uppercase event types, capitalised file keys, ISO job times, a `user_error` status beyond the spec."""

    key = TOGETHER_KEY

    def __init__(self):
        super().__init__()
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}
        self.metrics: dict[str, list[dict]] = {}
        self.checkpoints: dict[str, list[dict]] = {}
        self.supported = ["meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "Qwen/Qwen3-8B"]
        self.metrics_bodies: list = []
        # The answer of POST /fine-tunes/estimate-price; None: the key may not use it (403).
        self.price_estimate: dict | None = None
        self.estimate_requests: list[dict] = []

    def add_job(self, *, status: str = "completed", n_steps: int = 0, evals_every: int = 0, **extra) -> dict:
        jid = f"ft-{uuid.uuid4()}"
        job = {
            "id": jid,
            "status": status,
            "created_at": "2025-05-17T17:35:45.123Z",
            "updated_at": "2025-05-17T18:46:23.456Z",
            "started_at": "2025-05-17T17:40:00Z",
            "total_price": 1500,
            "token_count": 850000,
            "events": [],
            "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "model_output_name": "acme/Meta-Llama-3.1-8B-Instruct-Reference-support-32162631",
            "n_epochs": 3,
            "n_checkpoints": 1,
            "n_evals": 0,
            "batch_size": 16,
            "learning_rate": 1e-5,
            "training_file": "file-629e58b4-ff73-438c-b2cc-f69542b27980",
            "validation_file": "",
            "training_type": {
                "type": "Lora",
                "lora_r": 16,
                "lora_alpha": 32,
                "lora_dropout": 0.0,
                "lora_trainable_modules": "all-linear",
            },
            "training_method": {"method": "sft", "train_on_inputs": "auto"},
            "progress": {"estimate_available": False, "seconds_remaining": 0},
            "wandb_project_name": "together",
            "queue_depth": 0,  # FinetuneResponse-only field
            "steps_completed": n_steps,
            "total_steps": n_steps,  # SDK-only fields
        }
        job.update(extra)
        self.jobs[jid] = job
        self.events[jid] = [
            {
                "object": "fine-tune-event",
                "created_at": "2025-05-17T17:35:46Z",
                "level": "Info",
                "message": "Fine tune request created",
                "type": "JOB_PENDING",
                "param_count": 0,
                "token_count": 0,
                "total_steps": 0,
                "step": 0,
                "training_offset": 0,
                "wandb_url": "",
                "checkpoint_path": "",
                "model_path": "",
                "hash": "",
            },
            {
                "object": "fine-tune-event",
                "created_at": "2025-05-17T17:40:00Z",
                "level": "",
                "message": "Training started",
                "type": "TRAINING_START",
                "step": 0,
                "total_steps": n_steps,
            },
        ]
        metrics = []
        for step in range(1, n_steps + 1):
            metrics.append(
                {
                    "train/loss": 2.0 - step * 0.1,
                    "train/learning_rate": 1e-5,
                    "train/global_step": step,
                    "train/epoch": step / max(n_steps, 1),
                    "train/grad_norm": 1.2,
                    "timestamp": 1747500000000000000 + step,
                }
            )
            if evals_every and step % evals_every == 0:
                metrics.append({"eval/loss": 2.1 - step * 0.1, "timestamp": 1747500000000000000 + step})
        self.metrics[jid] = metrics
        self.checkpoints[jid] = [
            {
                "step": 5,
                "created_at": "2025-05-17T18:00:00Z",
                "path": "s3://x/5",
                "checkpoint_type": "Intermediate",
            },
            {
                "step": 10,
                "created_at": "2025-05-17T18:40:00Z",
                "path": "s3://x/final",
                "checkpoint_type": "Final Merged",
            },
        ]
        return job

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        parts = [p for p in path.split("/") if p]
        method = request.method
        job: dict | None
        if parts == ["files", "upload"] and method == "POST":
            body = request.read()
            if b'name="file_name"' not in body or b'name="purpose"' not in body:
                return self.error(400, "file_name and purpose are required")
            fid = f"file-{uuid.uuid4()}"
            content = body.split(b"\r\n\r\n")[-1]
            self.files[fid] = {
                "id": fid,
                "object": "file",
                "created_at": 1715021438,
                "filename": "train.jsonl",
                "bytes": len(content),
                "purpose": "fine-tune",
                "FileType": "jsonl",
                "LineCount": 0,
                "Processed": True,
            }
            return httpx.Response(200, json=self.files[fid])
        if parts == ["fine-tunes"] and method == "POST":
            body = json.loads(request.content)
            if body.get("training_file") not in self.files:
                return self.error(400, "Training file not found", code="invalid_file")
            job = self.add_job(
                status="pending",
                model=body["model"],
                training_file=body["training_file"],
                n_epochs=body.get("n_epochs", 1),
                training_type=body.get("training_type"),
                training_method=body.get("training_method"),
                suffix=body.get("suffix"),
            )
            job["model_output_name"] = (
                f"acme/{body['model'].split('/')[-1]}-{body.get('suffix', 'ft')}-abc123"
            )
            return httpx.Response(200, json=job)
        if parts == ["fine-tunes", "estimate-price"] and method == "POST":
            # §4.10 of shared/api/together-finetuning.md; `price_estimate` None: a key without it.
            body = json.loads(request.content)
            self.estimate_requests.append(body)
            if self.price_estimate is None:
                return self.error(403, "Price estimation is not available for this account")
            if body.get("training_file") not in self.files:
                return self.error(400, "Training file not found", code="invalid_file")
            return httpx.Response(200, json=self.price_estimate)
        if parts == ["fine-tunes"] and method == "GET":
            return httpx.Response(200, json={"data": list(self.jobs.values())})
        if parts == ["fine-tunes", "models", "supported"]:
            return httpx.Response(200, json={"models": self.supported})
        if parts == ["models"]:
            return httpx.Response(
                200,
                json=[
                    {
                        "id": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                        "object": "model",
                        "type": "chat",
                        "organization": "Meta",
                        "created": 1,
                    }
                ],
            )
        if len(parts) >= 2 and parts[0] == "fine-tunes":
            job = self.jobs.get(parts[1])
            if job is None:
                return httpx.Response(404, json={"message": f"Fine-tune job {parts[1]} not found"})
            if len(parts) == 2:
                return httpx.Response(200, json={**job, "events": self.events[job["id"]]})
            if parts[2] == "cancel":
                job["status"] = "cancel_requested"
                return httpx.Response(200, json=job)
            if parts[2] == "events":
                return httpx.Response(200, json={"data": self.events[job["id"]]})
            if parts[2] == "checkpoints":
                return httpx.Response(200, json={"data": self.checkpoints[job["id"]]})
            if parts[2] == "metrics":
                body = json.loads(request.content) if request.content else {}
                self.metrics_bodies.append(body)
                start = body.get("global_step_from", 0)
                data = [m for m in self.metrics[job["id"]] if m.get("train/global_step", start) >= start]
                return httpx.Response(200, json={"metrics": data})
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            return httpx.Response(200, content=b'{"messages": []}\n')
        if parts == ["chat", "completions"]:
            body = json.loads(request.content)
            if body["model"] not in self.supported:
                return self.error(404, f"Unable to access model {body['model']}.", code="model_not_available")
            return httpx.Response(
                200,
                json={
                    "id": "x",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "prompt": [],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "eos",
                            "seed": 1,
                            "message": {"role": "assistant", "content": "Hi there", "tool_calls": []},
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                },
            )
        return self.error(404, f"Unknown path {path}")
