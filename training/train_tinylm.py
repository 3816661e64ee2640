"""Train TinyLM, the built-in text model, and write its shipped weights.

Data: the Python reference documentation that every CPython carries
(``pydoc_data.topics``) plus the docstrings of the standard library's own
source, read with ``ast`` (nothing is imported or downloaded). A few pydoc
topics are held out; their names go into the weights file so tests can
measure the model on text it never saw.

Run from the repository root with the project and torch installed:

    python training/train_tinylm.py            # about 10 minutes on one core

The torch model here mirrors the numpy inference code in
``genweave.models.tinylm`` exactly (same names, same maths); the parity test
in ``tests/models/test_tinylm_parity.py`` holds the two together.
"""

from __future__ import annotations

import argparse
import ast
import math
import sys
import sysconfig
import time
from pathlib import Path
from pydoc_data.topics import topics
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from genweave.models.tinylm.tokenizer import EOS_ID, VOCAB_SIZE
from genweave.models.tinylm.weights import DEFAULT_WEIGHTS, ModelConfig, Params, save_weights

HELDOUT_EVERY = 20
MIN_DOCSTRING_CHARS = 40
# Parts of the stdlib whose docstrings are test scaffolding or vendored tools,
# not documentation prose.
SKIPPED_STDLIB_PARTS = frozenset(
    {"idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages", "__pycache__"}
)
# The model only ever sees ASCII; typographic punctuation is folded to it so
# no probability is spent on multi-byte sequences it would rarely get right.
ASCII_FOLD = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u2013": "-",
        "\u2014": "--",
        "\u2026": "...",
        "\u00b0": " degrees",
    }
)

CONFIG = ModelConfig(
    vocab_size=VOCAB_SIZE, context_length=256, d_model=128, n_layers=4, n_heads=4, eos_id=EOS_ID
)


def heldout_topics() -> list[str]:
    """Every 20th pydoc topic, by sorted name: the evaluation set."""
    return sorted(topics)[::HELDOUT_EVERY]


def normalize(text: str) -> str:
    text = text.translate(ASCII_FOLD)
    return text.encode("ascii", errors="ignore").decode("ascii")


def stdlib_docstrings() -> list[str]:
    """Module, class and function docstrings of the stdlib's .py files."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs: list[str] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in SKIPPED_STDLIB_PARTS or p.startswith("test") for p in parts):
            continue
        try:
            tree = ast.parse(path.read_text("utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= MIN_DOCSTRING_CHARS:
                    docs.append(doc)
    return docs


def encode_documents(docs: list[str]) -> NDArray[np.int64]:
    """Concatenate documents as bytes, each followed by the end-of-text id."""
    out: list[int] = []
    for doc in docs:
        out.extend(normalize(doc).encode("ascii"))
        out.append(EOS_ID)
    return np.array(out, dtype=np.int64)


def build_corpus() -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    held = set(heldout_topics())
    train_docs = [topics[k] for k in sorted(topics) if k not in held] + stdlib_docstrings()
    return encode_documents(train_docs), encode_documents([topics[k] for k in sorted(held)])


def rope_tables(cfg: ModelConfig, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    half = cfg.head_dim // 2
    inv_freq = cfg.rope_base ** (-np.arange(half, dtype=np.float64) / half)
    angles = np.arange(length, dtype=np.float64)[:, None] * inv_freq[None, :]
    return torch.from_numpy(np.cos(angles)).float(), torch.from_numpy(np.sin(angles)).float()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.ln1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.up = nn.Linear(d, 4 * d, bias=False)
        self.down = nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        heads, hd = self.cfg.n_heads, self.cfg.head_dim
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, heads, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(
            rotate(q, cos, sin), rotate(k, cos, sin), v, is_causal=True
        )
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class TorchTinyLM(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        cos, sin = rope_tables(cfg, cfg.context_length)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                # GPT-2's scaled init: residual outputs shrink with depth.
                residual = name.endswith(("out.weight", "down.weight"))
                std = 0.02 / math.sqrt(2 * cfg.n_layers) if residual else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.tok_emb(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.ln_f(x) @ self.tok_emb.weight.T  # type: ignore[no-any-return]

    def export(self) -> Params:
        """Parameters under the numpy model's names, as ``x @ W`` matrices."""

        def arr(t: torch.Tensor) -> NDArray[np.float32]:
            return t.detach().float().numpy().copy()

        params: Params = {
            "tok_emb": arr(self.tok_emb.weight),
            "ln_f.w": arr(self.ln_f.weight),
            "ln_f.b": arr(self.ln_f.bias),
        }
        for i, blk in enumerate(self.blocks):
            assert isinstance(blk, Block)
            p = f"blocks.{i}."
            params |= {
                p + "ln1.w": arr(blk.ln1.weight),
                p + "ln1.b": arr(blk.ln1.bias),
                p + "attn.qkv": arr(blk.qkv.weight.T),
                p + "attn.out": arr(blk.out.weight.T),
                p + "ln2.w": arr(blk.ln2.weight),
                p + "ln2.b": arr(blk.ln2.bias),
                p + "mlp.up": arr(blk.up.weight.T),
                p + "mlp.down": arr(blk.down.weight.T),
            }
        return params


def evaluate(model: TorchTinyLM, data: NDArray[np.int64]) -> float:
    """Mean next-token loss (nats) over non-overlapping context windows."""
    ctx = model.cfg.context_length
    n = (len(data) - 1) // ctx
    x = torch.from_numpy(data[: n * ctx].reshape(n, ctx))
    y = torch.from_numpy(data[1 : n * ctx + 1].reshape(n, ctx))
    model.eval()
    with torch.no_grad():
        losses = [
            F.cross_entropy(model(xb).flatten(0, 1), yb.flatten()).item()
            for xb, yb in zip(x.split(32), y.split(32), strict=True)
        ]
    model.train()
    return float(np.mean(losses))


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return float(args.lr * (step + 1) / args.warmup)
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return float(args.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress))))


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_data, heldout = build_corpus()
    print(f"corpus: {len(train_data):,} train bytes, {len(heldout):,} held-out bytes", flush=True)
    model = TorchTinyLM(CONFIG)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params:,} parameters, {CONFIG}", flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
    )
    ctx = CONFIG.context_length
    recent: list[float] = []
    start = time.monotonic()
    for step in range(args.steps):
        offsets = rng.integers(0, len(train_data) - ctx - 1, size=args.batch)
        x = torch.from_numpy(np.stack([train_data[o : o + ctx] for o in offsets]))
        y = torch.from_numpy(np.stack([train_data[o + 1 : o + ctx + 1] for o in offsets]))
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent = [*recent[-(args.log_every - 1) :], loss.item()]
        if (step + 1) % args.log_every == 0:
            print(
                f"step {step + 1}/{args.steps} loss {np.mean(recent):.3f} "
                f"{time.monotonic() - start:.0f}s",
                flush=True,
            )
    heldout_loss = evaluate(model, heldout)
    elapsed = time.monotonic() - start
    info: dict[str, Any] = {
        "data": "pydoc_data.topics (minus held-out topics) + stdlib docstrings, ASCII-folded",
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "parameters": n_params,
        "train_bytes": len(train_data),
        "tokens_seen": args.steps * args.batch * ctx,
        "train_loss": round(float(np.mean(recent)), 4),
        "heldout_loss": round(heldout_loss, 4),
        "heldout_topics": heldout_topics(),
        "train_seconds": round(elapsed),
    }
    save_weights(args.out, CONFIG, model.export(), info)
    print(
        f"held-out loss {heldout_loss:.3f} nats/byte ({heldout_loss / math.log(2):.3f} bits); "
        f"{elapsed:.0f}s; wrote {args.out} ({Path(args.out).stat().st_size:,} bytes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    train(parser.parse_args())


if __name__ == "__main__":
    main()
