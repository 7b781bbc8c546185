"""Teacher-forced generation on GPU nodes through Ray Data's LLM processors (vLLM).

:class:`RayDataLLMBackend` is a generation backend: each ``generate`` call becomes a
Ray Dataset of requests that ``ray.data.llm`` runs through vLLM engine replicas on
the cluster's GPUs, with the request's LoRA adapter (a PEFT folder, as committed)
loaded by vLLM. The evaluations use it unchanged (``simstudent eval exp1 --ray``).

Nothing here can run without a GPU: :func:`cluster_gpus` says how many the chosen
cluster has, and the CLI stops with one line when there are none.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any, Optional, Sequence

from simstudent.errors import SimstudentError
from simstudent.models.base import Completion, GenerationRequest
from simstudent.scale.cohort import RayConfig, ensure_ray


class NoGPU(SimstudentError, RuntimeError):
    """The cluster (or this machine) has no GPU for vLLM."""


def local_gpus() -> int:
    """GPUs ``nvidia-smi -L`` lists on this machine (0 without the tool or a driver)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0


def cluster_gpus(config: RayConfig) -> float:
    """GPUs available to ``config``'s cluster: this machine's for a local cluster
    (checked without starting Ray), the cluster's resources for an address."""
    if not config.address:
        return float(local_gpus())
    ray = ensure_ray(config)
    return float(ray.cluster_resources().get("GPU", 0.0))


def require_gpus(config: RayConfig) -> float:
    """The cluster's GPU count; :class:`NoGPU` with a one-line reason when it is 0."""
    n = cluster_gpus(config)
    if n <= 0:
        where = f"the Ray cluster at {config.address}" if config.address else "this machine (nvidia-smi lists none)"
        raise NoGPU(f"--ray generation runs vLLM on GPU nodes, and {where} has no GPU; run without --ray "
                    "(hf backend on CPU) or point --ray at a cluster with GPU nodes")
    return n


class RayDataLLMBackend:
    """Batch generation through ``ray.data.llm`` with vLLM engines (one per GPU by default).

    ``model`` is the base model (a Hugging Face id or folder every node can read);
    a request's ``adapter`` (a PEFT folder reachable from the GPU nodes) is passed as
    the row's model, which vLLM loads as a LoRA adapter.
    """

    name = "ray-vllm"

    def __init__(self, model: str, *, concurrency: int = 1, batch_size: int = 64, max_lora_rank: int = 64,
                 max_model_len: int = 4096, address: Optional[str] = None, **_: Any) -> None:
        self.model, self.concurrency, self.batch_size = model, concurrency, batch_size
        self.max_lora_rank, self.max_model_len = max_lora_rank, max_model_len
        self.ray_config = RayConfig(address=address)
        self._processors: dict[bool, Any] = {}

    def _processor(self, chat: bool) -> Any:
        if chat not in self._processors:
            from ray.data import llm as rdl

            config = rdl.vLLMEngineProcessorConfig(
                model_source=self.model, concurrency=self.concurrency, batch_size=self.batch_size,
                apply_chat_template=chat,
                engine_kwargs={"enable_lora": True, "max_lora_rank": self.max_lora_rank, "max_loras": 4,
                               "max_model_len": self.max_model_len, "dtype": "bfloat16"})
            build = getattr(rdl, "build_processor", None) or rdl.build_llm_processor
            self._processors[chat] = build(
                config,
                preprocess=lambda row: {k: row[k] for k in ("i", "prompt", "messages", "model", "sampling_params")
                                        if row.get(k) is not None},
                postprocess=lambda row: {"i": row["i"], "text": row.get("generated_text") or "",
                                         "n": len(row.get("generated_tokens") or []),
                                         "finish": row.get("finish_reason") or "stop"})
        return self._processors[chat]

    @staticmethod
    def _row(i: int, req: GenerationRequest) -> dict[str, Any]:
        s = req.sampling
        params: dict[str, Any] = {"max_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p,
                                  "top_k": s.top_k if s.top_k > 0 else -1, "min_p": s.min_p}
        if s.seed is not None:
            params["seed"] = s.seed
        if req.stop:
            params["stop"] = list(req.stop)
        row: dict[str, Any] = {"i": i, "sampling_params": params, "model": req.adapter}
        if req.prompt is not None:
            row["prompt"] = req.prompt + (req.assistant_prefix or "")
        else:
            row["messages"] = list(req.messages or [])
        return row

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Completions for ``requests``, in order."""
        require_gpus(self.ray_config)
        ray = ensure_ray(self.ray_config)
        out: dict[int, Completion] = {}
        for chat in (False, True):
            rows = [self._row(i, r) for i, r in enumerate(requests) if (r.prompt is None) == chat]
            if not rows:
                continue
            for row in self._processor(chat)(ray.data.from_items(rows)).take_all():
                prefix = "" if chat else (requests[row["i"]].assistant_prefix or "")
                out[row["i"]] = Completion(text=prefix + row["text"], completion_tokens=row["n"],
                                           finish_reason="length" if row["finish"] == "length" else "stop")
        return [out[i] for i in range(len(requests))]
