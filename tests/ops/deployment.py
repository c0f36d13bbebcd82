"""What the deployment-file tests share: where the files are, the entrypoint's command
words, and the Dockerfile read as instructions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "container-entrypoint"
ENTRYPOINT_IN_IMAGE = "/app/scripts/container-entrypoint"
APP_SERVICES = ("web", "worker", "beat")


def entrypoint_words() -> set[str]:
    """The command words of the entrypoint's ``case`` (each ``word)`` line)."""
    return set(re.findall(r"^ {4}([a-z][a-z-]*)\)$", ENTRYPOINT.read_text(), re.MULTILINE))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Arguments per instruction of the last stage."""
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    stage: dict[str, list[str]] = {}
    for keyword, args in instructions[last_from:]:
        stage.setdefault(keyword, []).append(args)
    return stage

