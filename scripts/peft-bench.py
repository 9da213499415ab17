#!/usr/bin/env python3
"""The PyTorch + PEFT reference for `d2lora bench` on a CUDA GPU, and the side-by-side ratios.

measure (default): SmolLM2-135M's architecture with random weights (a LlamaConfig, no download),
PEFT LoRA and DoRA r=8 alpha=16 on q,k,v,o (no dropout), AdamW in fp32, batch 8 at each sequence
length, the loss at every position; tokens/s, ms/step (median of the timed steps) and peak GiB
(torch.cuda.max_memory_allocated over the timed steps). Then torch.matmul in fp32 (TF32 off, so
cuBLAS's fp32 path) at 2048^3 and 4096^3. Writes JSON.

compare (--compare): reads that JSON and `d2lora bench --json`'s, and prints the ratios of the
issue's table with their targets. Needs no torch.

Without torch or peft (or without CUDA) measure says so, writes {"available": false, "reason"}
and exits 0, so that the caller goes on with its own part.
"""

import argparse
import json
import statistics
import sys
import time

SMOLLM2_135M = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    head_dim=64,
    max_position_embeddings=2048,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
    tie_word_embeddings=True,
    bos_token_id=1,
    eos_token_id=2,
)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
JOB_TOKENS = 2 * 5000 * 256


def unavailable(reason, path):
    print(f"PEFT reference skipped: {reason}", flush=True)
    with open(path, "w") as f:
        json.dump({"available": False, "reason": reason}, f, indent=2)
    return 0


def measure(args):
    try:
        import torch
    except ImportError as e:
        return unavailable(f"torch is not installed ({e}); install torch, transformers and peft for the reference", args.json)
    try:
        import peft
        import transformers
    except ImportError as e:
        return unavailable(f"transformers or peft is not installed ({e}); pip install transformers peft", args.json)
    if not torch.cuda.is_available():
        return unavailable("torch sees no CUDA device", args.json)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    report = {
        "available": True,
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "training": [],
        "matmul": [],
    }
    print(f"PEFT reference on {report['device']} (torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__})", flush=True)

    for method in ("lora", "dora"):
        for seq in args.seqs:
            row = train_row(torch, transformers, peft, device, method, args.batch, seq, args.steps)
            report["training"].append(row)
            print(f"  PEFT {row['method']} {args.batch}x{seq}: {row['msPerStep']:.1f} ms/step, {row['tokensPerSecond']:.0f} tok/s, peak {row['peakGiB']:.2f} GiB", flush=True)

    for n in (2048, 4096):
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        for _ in range(3):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        times = []
        for _ in range(10):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.matmul(a, b)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        ms = statistics.median(times)
        report["matmul"].append({"n": n, "ms": ms, "gflops": 2 * n**3 / (ms * 1e6)})
        print(f"  cuBLAS fp32 {n}^3: {ms:.2f} ms, {2 * n**3 / (ms * 1e6):.0f} GFLOP/s", flush=True)
        del a, b

    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    return 0


def train_row(torch, transformers, peft, device, method, batch, seq, steps):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(**SMOLLM2_135M)
    model = transformers.LlamaForCausalLM(config).to(device=device, dtype=torch.float32)
    lora = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS, use_dora=(method == "dora"))
    model = peft.get_peft_model(model, lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    tokens = torch.randint(3, config.vocab_size, (batch, seq), device=device)

    def step():
        # labels = inputs: the model shifts them, so every position but the last carries loss.
        loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    ms = statistics.median(times)
    row = {
        "method": "LoRA r=8" if method == "lora" else "DoRA r=8",
        "batch": batch,
        "seq": seq,
        "msPerStep": ms,
        "tokensPerSecond": batch * seq / (ms / 1000),
        "peakGiB": torch.cuda.max_memory_allocated() / 2**30,
    }
    del model, optimizer, tokens
    torch.cuda.empty_cache()
    return row


def compare(args):
    """Prints the issue's ratios from our bench JSON and the reference's, each with its target."""
    try:
        with open(args.ours) as f:
            ours = json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare: cannot read our bench JSON {args.ours}: {e}", file=sys.stderr)
        return 1
    try:
        with open(args.peft) as f:
            ref = json.load(f)
    except (OSError, ValueError) as e:
        ref = {"available": False, "reason": f"cannot read {args.peft}: {e}"}
    if not ref.get("available"):
        print(f"(PEFT reference unavailable: {ref.get('reason')}; the ratios against it are left out)")

    every = [r for r in ours.get("training", []) if r.get("loss") == "every position"]
    big = [r for r in every if r.get("model", "").startswith("SmolLM2-135M")]
    if not big and every:
        # A dry run at small shapes (no --full): the ratios of the model that was measured.
        model = every[-1].get("model")
        big = [r for r in every if r.get("model") == model]
        print(f"(no SmolLM2-135M-shaped rows in {args.ours}: our ratios below are for {model}, and the PEFT ones compare different shapes)")

    def ours_row(method, seq):
        return next((r for r in big if r.get("method") == method and r.get("seq") == seq), None)

    def ref_row(method, seq):
        return next((r for r in ref.get("training", []) if r.get("method") == method and r.get("seq") == seq), None)

    lines = []

    def line(figure, a, b, ratio_of, target, ok):
        if a is None or b is None:
            lines.append((figure, "n/a" if a is None else f"{a:.4g}", "n/a" if b is None else f"{b:.4g}", "n/a", target, ""))
            return
        r = ratio_of(a, b)
        met = "" if ok is None else "yes" if ok(r) else "NO"
        lines.append((figure, f"{a:.4g}", f"{b:.4g}", f"{r:.3f}x", target, met))

    seqs = sorted({r.get("seq", 256) for r in big}) or [256]
    for seq in seqs:
        d2, lo = ours_row("D2-LoRA r=8", seq), ours_row("LoRA r=8", seq)
        pl = ref_row("LoRA r=8", seq)
        line(f"tokens/s, our D2-LoRA vs PEFT LoRA, 8x{seq}", d2 and d2["tokensPerSecond"], pl and pl["tokensPerSecond"], lambda a, b: a / b, ">= 1.5x", lambda r: r >= 1.5)
        line(f"ms/step, our D2-LoRA vs our LoRA, 8x{seq}", d2 and d2["msPerStep"], lo and lo["msPerStep"], lambda a, b: a / b, "<= 1.05x", lambda r: r <= 1.05)
        line(f"peak GiB, our D2-LoRA vs PEFT LoRA, 8x{seq}", d2 and d2["peakBytes"] / 2**30, pl and pl["peakGiB"], lambda a, b: a / b, "<= 0.8x", lambda r: r <= 0.8)
        d2r = ours_row("D2-LoRA r=8, recomputing", seq)
        line(f"peak GiB, our D2-LoRA recomputing activations vs PEFT LoRA, 8x{seq}", d2r and d2r["peakBytes"] / 2**30, pl and pl["peakGiB"], lambda a, b: a / b, "<= 0.8x", lambda r: r <= 0.8)
        line(f"ms/step, our D2-LoRA recomputing vs keeping activations, 8x{seq}", d2r and d2r["msPerStep"], d2 and d2["msPerStep"], lambda a, b: a / b, "(context)", None)
        dora = ref_row("DoRA r=8", seq)
        line(f"tokens/s, our D2-LoRA vs PEFT DoRA, 8x{seq}", d2 and d2["tokensPerSecond"], dora and dora["tokensPerSecond"], lambda a, b: a / b, "(context)", None)
        if seq == 256:
            # The main job's tokens (2 epochs x 5,000 items x 256) at the measured step rate.
            seconds = d2 and JOB_TOKENS / d2["tokensPerSecond"]
            lines.append(("s for 2 epochs x 5,000 x 256 tokens, our D2-LoRA (from the step rate)", "n/a" if seconds is None else f"{seconds:.4g}", "", "", "<= 110 s", "" if seconds is None else "yes" if seconds <= 110 else "NO"))
    for n in (2048, 4096):
        mine = [r for r in ours.get("matmul", []) if r["M"] == n and r["N"] == n and r["K"] == n]
        best = max(mine, key=lambda r: r["gflops"]) if mine else None
        cublas = next((r for r in ref.get("matmul", []) if r["n"] == n), None)
        label = f"GFLOP/s {n}^3, WGSL ({best['variant']}) vs cuBLAS fp32" if best else f"GFLOP/s {n}^3, WGSL vs cuBLAS fp32"
        line(label, best and best["gflops"], cublas and cublas["gflops"], lambda a, b: a / b, ">= 0.65x", lambda r: r >= 0.65)

    lines.append(("step in Chromium vs in Node (Dawn)", "n/a", "n/a", "n/a", ">= 0.9x", "(needs a browser on the GPU machine)"))
    header = ("figure", "ours", "reference", "ratio", "target", "met")
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    print("\nThe issue's table (our peak: tensor buffers the runtime holds; PEFT's: torch.cuda.max_memory_allocated):")
    for row in [header, tuple("-" * w for w in widths), *lines]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default="peft-bench.json", help="where measure writes (and compare reads, with --peft) the reference's figures")
    p.add_argument("--seqs", default="256,1024", help="comma-separated sequence lengths (batch 8 each)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10, help="timed steps per row (after 3 warm-up steps)")
    p.add_argument("--compare", action="store_true", help="print the ratios instead of measuring")
    p.add_argument("--ours", default="bench-gpu.json", help="with --compare: d2lora bench's JSON")
    p.add_argument("--peft", default=None, help="with --compare: the reference's JSON (default: --json)")
    args = p.parse_args()
    args.seqs = [int(s) for s in args.seqs.split(",")]
    if args.compare:
        args.peft = args.peft or args.json
        return compare(args)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
