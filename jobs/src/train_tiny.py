"""A tiny training job: logistic regression by gradient descent on generated data, pure Python.

Metrics go through MLflow (`mlflow.log_metric(..., step=epoch)`), so the same code reports to the
workspace on Azure ML and to the per-job file store when run locally.
"""

import argparse
import json
import math
import random
from pathlib import Path

import mlflow


def make_data(rng: random.Random, n: int = 400) -> list[tuple[float, float, int]]:
    """Two Gaussian blobs, labelled 0 and 1, that a line separates well (not perfectly)."""
    data = []
    for i in range(n):
        label = i % 2
        cx, cy = (1.0, 1.0) if label else (-1.0, -1.0)
        data.append((rng.gauss(cx, 1.0), rng.gauss(cy, 1.0), label))
    return data


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def evaluate(w: list[float], b: float, data: list[tuple[float, float, int]]) -> tuple[float, float]:
    loss = 0.0
    correct = 0
    for x1, x2, y in data:
        p = min(max(sigmoid(w[0] * x1 + w[1] * x2 + b), 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += int((p >= 0.5) == bool(y))
    return loss / len(data), correct / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model-dir", type=Path, required=True)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    rng = random.Random(args.seed)
    data = make_data(rng)
    # start from a poor guess (pointing the wrong way), so the curves show learning
    w = [rng.uniform(-0.6, -0.4), rng.uniform(-0.6, -0.4)]
    b = 0.0
    mlflow.log_params({"epochs": args.epochs, "lr": args.lr, "seed": args.seed})
    for epoch in range(args.epochs):
        gw0 = gw1 = gb = 0.0
        for x1, x2, y in data:  # full-batch gradient of the mean log loss
            err = sigmoid(w[0] * x1 + w[1] * x2 + b) - y
            gw0 += err * x1
            gw1 += err * x2
            gb += err
        n = len(data)
        w = [w[0] - args.lr * gw0 / n, w[1] - args.lr * gw1 / n]
        b -= args.lr * gb / n
        loss, accuracy = evaluate(w, b, data)
        mlflow.log_metric("loss", loss, step=epoch)
        mlflow.log_metric("accuracy", accuracy, step=epoch)
        print(f"epoch {epoch + 1}/{args.epochs}  loss={loss:.4f}  accuracy={accuracy:.3f}", flush=True)

    args.model_dir.mkdir(parents=True, exist_ok=True)
    model = {"kind": "logistic-regression", "weights": w, "bias": b, "features": ["x1", "x2"]}
    (args.model_dir / "model.json").write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    print(f"saved model to {args.model_dir / 'model.json'}")
    mlflow.end_run()


if __name__ == "__main__":
    main()
