"""Tables and PNGs of the GPU study (`study.py report`): every figure beside its ratio to bf16 of the
same shape, from the same run (one lease: a ratio never mixes two machines' or two days' bf16).
Writes OUT/gpu.md (the analysis in benchmarks/gpu/analysis.md is kept as its second half) and
OUT/gpu-*.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOAD_CONCURRENCY = {"c1": 1, "c16": 16, "c64": 64, "c256": 256}


def load_results(paths: list[Path]) -> list[dict[str, Any]]:
    """Every record, with ``section``: its shape and run (``run`` of study.py, else its file's name)."""
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                run = record.setdefault("run", path.stem)
                record["section"] = f"{record['shape']}, run {run}"
                host, served = record.get("host"), record.get("version") or {}
                if host and "vllm" not in host and "vllm" in served:  # facts taken before vLLM was unpacked
                    host["vllm"] = served["vllm"]
                records[(record["section"], record["key"])] = record  # a rerun of a cell wins
    return sorted(records.values(), key=lambda r: (r["shape"], r["run"]))


def sections(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["section"] for r in records))


def is_bf16_repeat(records: list[dict[str, Any]], section: str) -> bool:
    """A run that measured bf16's throughput loads and nothing else (a lease lost before its comparison):
    it compares nothing, so it goes only into the run-to-run table."""
    rows = [r for r in records if r["section"] == section]
    return all(
        r["key"] == "bf16|auto|serve" and set(r.get("loads", {})) <= set(LOAD_CONCURRENCY) for r in rows
    )


def compared_sections(records: list[dict[str, Any]]) -> list[str]:
    return [s for s in sections(records) if not is_bf16_repeat(records, s)]


def bf16_repeats(records: list[dict[str, Any]]) -> str:
    """bf16 of each shape in every run, and the spread between runs: how far apart two leases of the same
    GPU land, so a ratio inside that spread is read as no difference."""
    out = []
    for shape in sorted({r["shape"] for r in records}):
        runs = [
            r
            for r in records
            if r["shape"] == shape
            and r["key"] == "bf16|auto|serve"
            and any(_value(r, load, "output_throughput") for load in LOAD_CONCURRENCY)
        ]
        if len(runs) < 2:
            continue
        out.append(f"\n#### bf16 of the {shape} shape from run to run\n")
        out.append(_header("run", "c=1 tok/s", "c=64 tok/s", "c=256 tok/s", "TTFT c=1", "engine start s"))
        loads = ("c1", "c64", "c256")
        for r in runs:
            out.append(
                _row(
                    r["run"] + (" (bf16 only)" if is_bf16_repeat(records, r["section"]) else ""),
                    *(_fmt(_value(r, load, "output_throughput")) for load in loads),
                    _fmt(_value(r, "c1", "median_ttft_ms")),
                    _fmt(r.get("engine_start_s")),
                )
            )

        def spread(values: list[float | None]) -> str:
            known = [v for v in values if v]
            return f"{max(known) / min(known) - 1:.1%}" if len(known) > 1 else "-"

        out.append(
            _row(
                "spread (max / min - 1)",
                *(spread([_value(r, load, "output_throughput") for r in runs]) for load in loads),
                spread([_value(r, "c1", "median_ttft_ms") for r in runs]),
                spread([r.get("engine_start_s") for r in runs]),
            )
        )
    return "\n".join(out)


def label(record: dict[str, Any]) -> str:
    name = record["scheme"]
    if "w4a16" in name:
        name += f" ({record['kernel']})"
    if record["server"] == "vllm":
        name += ", vLLM's server"
    if record.get("cudagraph", "default") != "default":
        name += f", {record['cudagraph']} CUDA graphs"
    return name


def _value(record: dict[str, Any], load: str, metric: str) -> float | None:
    row = record.get("loads", {}).get(load)
    return None if row is None else row.get(metric)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}x"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(*names: str) -> str:
    return _row(*names) + "\n" + _row(*(["---"] * len(names)))


def _baseline(records: list[dict[str, Any]], section: str) -> dict[str, Any] | None:
    return next(
        (r for r in records if r["section"] == section and r["key"] == "bf16|auto|serve" and "loads" in r),
        None,
    )


def tables(records: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for section in compared_sections(records):
        rows = [r for r in records if r["section"] == section]
        base = _baseline(rows, section)
        ok = [r for r in rows if "loads" in r and r["server"] == "serve"]
        out.append(f"### {section.replace(',', ' shape,', 1)}\n")
        out.append(
            "Throughput (output tokens/s, chat API, 256 prompt -> 512 output tokens, T=0.6), ratio to bf16:\n"
        )
        out.append("| scheme | c=1 | vs bf16 | c=16 | c=64 | vs bf16 | c=256 (saturation) | vs bf16 |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in ok:
            cells = [label(r)]
            for load, with_ratio in (("c1", True), ("c16", False), ("c64", True), ("c256", True)):
                value = _value(r, load, "output_throughput")
                cells.append(_fmt(value))
                if with_ratio:
                    cells.append(_ratio(value, base and _value(base, load, "output_throughput")))
            out.append("| " + " | ".join(cells) + " |")
        out.append(
            "\nLatency (ms; medians, p99 ITL) and goodput (requests/s meeting the SLO; share that did):\n"
        )
        out.append(
            _header(
                "scheme",
                "TTFT c=1",
                "ITL c=1",
                "TTFT c=64",
                "ITL c=64",
                "p99 ITL c=64",
                "goodput c=64",
                "goodput c=256",
            )
        )
        for r in ok:

            def goodput(load: str, record: dict[str, Any] = r) -> str:
                value, share = _value(record, load, "request_goodput"), _value(record, load, "slo_attainment")
                return "-" if value is None else f"{value:.1f} ({share:.0%})"

            out.append(
                _row(
                    label(r),
                    _fmt(_value(r, "c1", "median_ttft_ms")),
                    _fmt(_value(r, "c1", "median_itl_ms"), 2),
                    _fmt(_value(r, "c64", "median_ttft_ms")),
                    _fmt(_value(r, "c64", "median_itl_ms"), 2),
                    _fmt(_value(r, "c64", "p99_itl_ms"), 2),
                    goodput("c64"),
                    goodput("c256"),
                )
            )
        out.append("\nReasoning-shaped load (256 -> 4096 tokens, 64 requests at once), engine and memory:\n")
        out.append(
            _header(
                "scheme",
                "4096-token load tok/s",
                "vs bf16",
                "engine start s",
                "vs bf16",
                "weights GiB (vLLM)",
                "artifact GiB",
                "KV cache tokens",
                "sequences of 4352 tokens the KV cache holds",
                "vs bf16",
                "kernels",
                "quantize s",
            )
        )
        for r in ok:
            engine, base_engine = r.get("engine", {}), (base or {}).get("engine", {})
            reasoning = _value(r, "reasoning", "output_throughput")
            seqs, base_seqs = (
                engine.get("max_seqs_reasoning_shape"),
                base_engine.get("max_seqs_reasoning_shape"),
            )
            out.append(
                _row(
                    label(r),
                    _fmt(reasoning),
                    _ratio(reasoning, base and _value(base, "reasoning", "output_throughput")),
                    _fmt(r.get("engine_start_s")),
                    _ratio(r.get("engine_start_s"), (base or {}).get("engine_start_s")),
                    _fmt(engine.get("weights_gib"), 2),
                    _fmt(r.get("artifact_gib"), 2),
                    _fmt(engine.get("kv_cache_tokens"), 0),
                    str(seqs or "-"),
                    _ratio(seqs, base_seqs),
                    ", ".join(engine.get("kernels", [])) or "-",
                    _fmt(r.get("quantize_s"), 0),
                )
            )
        failed = [r for r in rows if "error" in r]
        for r in failed:
            out.append(f"\n- **{label(r)} failed**: `{r['error'].strip().splitlines()[-1][:300]}`")
        out.append(overhead_table(rows, base))
        out.append(forcing_table(rows))
    return "\n".join(out)


def overhead_table(rows: list[dict[str, Any]], base: dict[str, Any] | None) -> str:
    theirs = next((r for r in rows if r["key"] == "bf16|auto|vllm" and "loads" in r), None)
    if base is None or theirs is None:
        return "\nserve vs vLLM's own server: not measured in this run.\n"
    lines = [
        "\nserve vs vLLM's own OpenAI server, bf16, equal work (`--answer-reserve-tokens 0`), same loads:\n",
        _header(
            "load",
            "vLLM tok/s",
            "serve tok/s",
            "throughput ratio (>= 1.00)",
            "vLLM median TTFT ms",
            "serve",
            "TTFT ratio (<= 1.05)",
        ),
    ]
    for load in ("c1", "c64", "c256"):
        t_ours, t_theirs = _value(base, load, "output_throughput"), _value(theirs, load, "output_throughput")
        f_ours, f_theirs = _value(base, load, "median_ttft_ms"), _value(theirs, load, "median_ttft_ms")
        lines.append(
            _row(
                load,
                _fmt(t_theirs),
                _fmt(t_ours),
                _ratio(t_ours, t_theirs),
                _fmt(f_theirs, 2),
                _fmt(f_ours, 2),
                _ratio(f_ours, f_theirs),
            )
        )
    lines.append(
        f"\nEngine start: vLLM's server {_fmt(theirs.get('engine_start_s'))} s, "
        f"serve {_fmt(base.get('engine_start_s'))} s (serve's includes its startup self-test)."
    )
    return "\n".join(lines) + "\n"


def forcing_table(rows: list[dict[str, Any]]) -> str:
    """Each serve cell's forced loads against its uncapped ones; "#2" loads are the same pair again."""
    pairs = [
        (r, plain, "{}-forced{}{}".format(*plain.partition("#")))
        for r in rows
        if r["server"] == "serve" and "loads" in r
        for plain in r["loads"]
        if "forced" not in plain
    ]
    pairs = [(r, plain, forced) for r, plain, forced in pairs if forced in r["loads"]]
    if not pairs:
        return "\nBudget-forcing cost: not measured in this run.\n"
    lines = [
        "\nBudget-forcing cost, bf16: thinking cut at 256 tokens then answered to 512 in all, against "
        "uncapped requests of the same length (loads marked #2: the same pair again, in the same cell):\n",
        "| cell | concurrency | uncapped tok/s | capped tok/s | cost (<= 1%) | uncapped median E2E ms "
        "| capped | capped: median ITL thinking / answer ms | gap at the forced end ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r, plain, forced in pairs:
        t_plain, t_forced = _value(r, plain, "output_throughput"), _value(r, forced, "output_throughput")
        cost = "-" if not t_plain or t_forced is None else f"{(1 - t_forced / t_plain):+.1%}"
        lines.append(
            _row(
                label(r),
                plain.removeprefix("c"),
                _fmt(t_plain),
                _fmt(t_forced),
                cost,
                _fmt(_value(r, plain, "median_e2el_ms")),
                _fmt(_value(r, forced, "median_e2el_ms")),
                _phase_itls(r, forced),
                _fmt(_phase(r, forced, "median_switch_gap_ms")),
            )
        )
    return "\n".join(lines) + "\n"


def _phase(record: dict[str, Any], load: str, name: str) -> float | None:
    """A forced load's phase figure (study.phase_split); runs before it was recorded have none."""
    phases = (record.get("loads", {}).get(load) or {}).get("phases") or {}
    return phases.get(name)


def _phase_itls(record: dict[str, Any], load: str) -> str:
    thinking, answer = (_phase(record, load, f"median_{p}_itl_ms") for p in ("thinking", "answer"))
    return "-" if thinking is None or answer is None else f"{thinking:.2f} / {answer:.2f}"


def not_measured(records: list[dict[str, Any]]) -> str:
    """The priority plan's cells and loads that no run measured, per shape."""
    from study import PLANS

    lines = []
    for shape in sorted({r["shape"] for r in records}):
        for cell in PLANS["priority"]:
            name = f"- {shape}: {cell.key.replace('|', ', ')}"
            runs = [r for r in records if r["shape"] == shape and r["key"] == cell.key]  # any run counts
            measured = [r["loads"] for r in runs if "loads" in r]  # a failed cell has an error instead
            if not runs:
                lines.append(f"{name}: not run")
            elif not measured:
                lines.append(f"{name}: failed (above)")
            elif missing := [
                load
                for load in cell.loads
                if not any("output_throughput" in m.get(load, {}) for m in measured)
            ]:
                lines.append(f"{name}: loads {', '.join(missing)} not measured")
    return "\n".join(lines) or "- every cell of the priority plan was measured"


def plots(records: list[dict[str, Any]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    runs_of_shape: dict[str, int] = {}  # runs numbered per shape, so a new shape renames no old plot
    for section in compared_sections(records):
        ok = [r for r in records if r["section"] == section and "loads" in r]
        shape = ok[0]["shape"] if ok else section.split(",")[0]
        runs_of_shape[shape] = runs_of_shape.get(shape, 0) + 1
        suffix = f"{shape}-run{runs_of_shape[shape]}"
        ok = [r for r in ok if any(_value(r, load, "output_throughput") for load in LOAD_CONCURRENCY)]
        if not ok:  # a run of other loads only (the forcing recheck): nothing to draw
            continue
        figure, axis = plt.subplots(figsize=(7, 4.5))
        for r in ok:
            points = [(c, _value(r, load, "output_throughput")) for load, c in LOAD_CONCURRENCY.items()]
            points = [(c, v) for c, v in points if v is not None]
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=label(r))
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent requests")
        axis.set_ylabel("output tokens/s")
        axis.set_title(
            f"Throughput vs concurrency, R1-Distill-Qwen-{section.replace(',', ' shape,', 1)}", fontsize=9
        )
        axis.legend(fontsize=7)
        figure.tight_layout()
        name = f"gpu-throughput-{suffix}.png"
        figure.savefig(out / name, dpi=100)
        plt.close(figure)
        names.append(name)

        figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        labels = [label(r) for r in ok]
        for axis, metric, title in (
            (axes[0], "median_ttft_ms", "median TTFT (ms)"),
            (axes[1], "median_itl_ms", "median ITL (ms)"),
        ):
            for offset, load in ((-0.2, "c1"), (0.2, "c64")):
                axis.bar(
                    [i + offset for i in range(len(ok))],
                    [_value(r, load, metric) or 0 for r in ok],
                    0.4,
                    label=f"concurrency {LOAD_CONCURRENCY[load]}",
                )
            axis.set_xticks(range(len(ok)), labels, rotation=35, ha="right", fontsize=7)
            axis.set_title(title)
            axis.legend(fontsize=7)
        figure.suptitle(f"Latency per scheme, {section}")
        figure.tight_layout()
        name = f"gpu-latency-{suffix}.png"
        figure.savefig(out / name, dpi=100)
        plt.close(figure)
        names.append(name)
    return names


def write_report(paths: list[Path], out: Path) -> None:
    records = load_results(paths)
    out.mkdir(parents=True, exist_ok=True)
    hosts = {
        json.dumps(r["host"], sort_keys=True): r["host"] for r in records if r.get("host")
    }  # one line per distinct host of the runs
    versions = "; ".join(", ".join(f"{k} {v}" for k, v in host.items()) for host in hosts.values())
    images = "\n".join(f"![{name}]({name})" for name in plots(records, out))
    analysis = (HERE / "analysis.md").read_text() if (HERE / "analysis.md").exists() else ""
    (out / "gpu.md").write_text(
        "# The GPU study: what each scheme buys on an H200\n\n"
        "Generated by `python benchmarks/gpu/study.py report` from the results of `study.py run` "
        "(benchmarks/gpu/README.md has the commands); the analysis after the tables is "
        f"benchmarks/gpu/analysis.md.\n\nHost: {versions}.\n\n"
        + tables(records)
        + "\n\n### bf16 from run to run\n"
        + bf16_repeats(records)
        + "\n\n**Cells of the plan not in these results:**\n\n"
        + not_measured(records)
        + "\n\n"
        + images
        + "\n\n"
        + analysis
    )
