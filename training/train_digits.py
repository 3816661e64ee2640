"""Train the built-in image model: a class-conditional VAE on 8x8 digits.

Data: scikit-learn's bundled ``load_digits`` (1,797 handwritten digits,
8x8, ink 0-16), which ships inside the sklearn package: nothing is
downloaded. Only the decoder is shipped; ``genweave.models.digits`` runs it
in numpy.

Run from the repository root with the project, torch and scikit-learn
installed:

    python training/train_digits.py            # about a minute on one core

Quality check: an SVM trained on the real digits (its own held-out accuracy
is printed) classifies samples drawn for each requested digit; the share it
labels as requested is stored in the weights file as ``sample_accuracy``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from torch import nn

from genweave.models.digits.painter import DEFAULT_WEIGHTS

CLASSES = 10
INK_MAX = 16.0
SAMPLES_PER_CLASS = 100


class CVAE(nn.Module):
    def __init__(self, latent: int, hidden: int) -> None:
        super().__init__()
        self.latent = latent
        self.enc = nn.Sequential(
            nn.Linear(64 + CLASSES, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * latent),
        )
        self.dec = nn.Sequential(
            nn.Linear(latent + CLASSES, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 64),
        )

    def decode(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Logits of each pixel's ink; sigmoid gives the image."""
        return self.dec(torch.cat([z, onehot], dim=1))  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mu, logvar = self.enc(torch.cat([x, onehot], dim=1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, onehot), mu, logvar

    def export(self) -> dict[str, NDArray[np.float32]]:
        """Decoder layers as ``x @ W + b`` arrays, named for the numpy painter."""
        linears = [m for m in self.dec if isinstance(m, nn.Linear)]
        out: dict[str, NDArray[np.float32]] = {}
        for i, lin in enumerate(linears):
            out[f"dec.{i}.w"] = lin.weight.detach().T.numpy().copy()
            out[f"dec.{i}.b"] = lin.bias.detach().numpy().copy()
        return out


def sample_accuracy(model: CVAE, classifier: SVC, scale: float, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(CLASSES).repeat_interleave(SAMPLES_PER_CLASS)
    z = torch.randn(len(labels), model.latent, generator=gen) * scale
    with torch.no_grad():
        images = torch.sigmoid(model.decode(z, F.one_hot(labels, CLASSES).float()))
    predicted = classifier.predict(images.numpy() * INK_MAX)
    return float((predicted == labels.numpy()).mean())


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    digits = load_digits()
    x_all = torch.from_numpy(digits.data / INK_MAX).float()
    y_all = torch.from_numpy(digits.target).long()
    model = CVAE(args.latent, args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.monotonic()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x_all), generator=gen)
        totals = [0.0, 0.0]
        for batch in order.split(args.batch):
            x, onehot = x_all[batch], F.one_hot(y_all[batch], CLASSES).float()
            logits, mu, logvar = model(x, onehot)
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
            opt.zero_grad()
            (recon + kl).backward()
            opt.step()
            totals[0] += recon.item() * len(x)
            totals[1] += kl.item() * len(x)
        recon_mean, kl_mean = (t / len(x_all) for t in totals)
        if (epoch + 1) % args.log_every == 0:
            print(
                f"epoch {epoch + 1}/{args.epochs} recon {recon_mean:.2f} kl {kl_mean:.2f} "
                f"(nats/image) {time.monotonic() - start:.0f}s",
                flush=True,
            )

    x_tr, x_te, y_tr, y_te = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=args.seed
    )
    classifier = SVC(gamma=0.001).fit(x_tr, y_tr)
    classifier_accuracy = float(classifier.score(x_te, y_te))
    accuracy = {
        scale: sample_accuracy(model, classifier, scale, args.seed)
        for scale in sorted({0.5, 0.8, 1.0, args.sample_scale})
    }
    print(
        f"SVM on real digits: {classifier_accuracy:.3f} held-out accuracy; "
        f"samples recognised as requested, by latent scale: {accuracy}"
    )
    info: dict[str, Any] = {
        "data": "sklearn.datasets.load_digits (1,797 images, 8x8)",
        "model": "class-conditional VAE, MLP encoder/decoder",
        "latent": args.latent,
        "hidden": args.hidden,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "recon_nats": round(recon_mean, 3),
        "kl_nats": round(kl_mean, 3),
        "classifier_accuracy": round(classifier_accuracy, 4),
        "sample_scale": args.sample_scale,
        "sample_accuracy": round(accuracy[args.sample_scale], 4),
        "train_seconds": round(time.monotonic() - start),
    }
    arrays: dict[str, Any] = {k: v.astype(np.float16) for k, v in model.export().items()}
    arrays["__info__"] = np.array(json.dumps(info))
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes): {info}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--latent", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-scale", type=float, default=0.8)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    train(parser.parse_args())


if __name__ == "__main__":
    main()
