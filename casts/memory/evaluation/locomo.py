"""Read LoCoMo-format conversations (Maharana et al., ACL 2024) as memories and questions.

A LoCoMo file holds one conversation: sessions of turns (``speaker``, ``dia_id``, ``text``,
sometimes ``blip_caption`` for a shared image) with their dates, and questions whose
``evidence`` names the turns that answer them. Each turn becomes one ``Memory`` whose key is
its ``dia_id``, so a question's evidence is a set of keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casts.memory.core.errors import ConfigurationError
from casts.memory.core.records import Memory

RECALL_CATEGORIES = frozenset({1, 2, 3, 4})
_SESSION = re.compile(r"^session_(\d+)$")
_EVIDENCE = re.compile(r"[;,\s]+")


@dataclass(frozen=True)
class Question:
    """A question, the keys of the memories that answer it, and its LoCoMo category."""

    text: str
    evidence: frozenset[str]
    category: int


@dataclass(frozen=True)
class Conversation:
    """One file: its memories as ``(key, value)`` and its questions."""

    name: str
    memories: list[tuple[str, dict[str, Any]]]
    questions: list[Question]


def turn_content(turn: dict[str, Any], *, date: str | None = None) -> str:
    """The text a turn is remembered by: who said it, what, and the image they shared.

    The speaker is part of the text because questions name people; the caption because a
    shared photo is often what the turn is about. ``date`` (the session's) is prepended when
    given.
    """
    content = f"{turn.get('speaker', '')}: {turn.get('text', '')}".strip()
    caption = turn.get("blip_caption")
    if isinstance(caption, str) and caption.strip():
        content += f" [shared a photo: {caption.strip()}]"
    if date:
        content = f"({date}) {content}"
    return content[:4000]


def load_conversation(path: Path, *, with_dates: bool = True) -> Conversation:
    """Read one LoCoMo file.

    Evidence ids are split on separators (some are written ``"D8:6; D9:17"``); ids that
    name no turn of the conversation are dropped, and questions left without evidence or
    outside categories 1-4 are skipped (category 5 is unanswerable by design).

    Raises:
        ConfigurationError: The file is not LoCoMo-shaped JSON.
    """
    try:
        data = json.loads(path.read_text())
        sessions = sorted(
            (int(match.group(1)), key)
            for key in data
            if (match := _SESSION.match(key)) and isinstance(data[key], list)
        )
        memories: list[tuple[str, dict[str, Any]]] = []
        for number, key in sessions:
            date = data.get(f"{key}_date_time")
            for turn in data[key]:
                content = turn_content(turn, date=date if with_dates else None)
                source = f"{path.name}#{turn['dia_id']}"
                value = Memory(content=content, kind="event", source=source)
                memories.append(
                    (
                        turn["dia_id"],
                        {
                            **value.to_value(),
                            "speaker": turn.get("speaker"),
                            "session": number,
                            "session_date": date,
                        },
                    )
                )
        keys = {key for key, _ in memories}
        questions = []
        for qa in data.get("qa", []):
            category = int(qa.get("category", 0))
            evidence = frozenset(
                part
                for raw in qa.get("evidence", [])
                for part in _EVIDENCE.split(str(raw))
                if part in keys
            )
            if category in RECALL_CATEGORIES and evidence:
                questions.append(Question(str(qa["question"]), evidence, category))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigurationError(f"{path} is not a LoCoMo conversation: {error}") from error
    return Conversation(path.stem, memories, questions)


def load_directory(directory: Path, *, with_dates: bool = True) -> list[Conversation]:
    """Every ``*.json`` conversation of a directory, by file name.

    Raises:
        ConfigurationError: The directory holds no JSON file.
    """
    files = sorted(directory.glob("*.json"))
    if not files:
        raise ConfigurationError(f"{directory} holds no LoCoMo *.json files")
    return [load_conversation(path, with_dates=with_dates) for path in files]
