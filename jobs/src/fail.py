"""Print a few progress lines, then fail the way a real training script does."""

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    for step in range(1, args.steps + 1):
        print(f"step {step}/{args.steps}: preparing data", flush=True)
    raise FileNotFoundError("training data not found: data/train.csv (did you upload it?)")


if __name__ == "__main__":
    main()
