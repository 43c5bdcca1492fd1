"""Greet someone and write the greeting to the output folder."""

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="world")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    greeting = f"Hello, {args.name}!"
    print(greeting, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "greeting.txt").write_text(greeting + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'greeting.txt'}")


if __name__ == "__main__":
    main()
