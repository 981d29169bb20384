"""``memory-casts eval recall`` end to end on small LoCoMo-format data of the test's own."""

from __future__ import annotations

import json

import pytest

from casts.memory.cli.main import main
from casts.memory.evaluation.locomo import load_conversation

CONVERSATION = {
    "speaker_a": "Ines",
    "speaker_b": "Tomas",
    "session_1_date_time": "9:00 am on 2 March, 2024",
    "session_1": [
        {"speaker": "Ines", "dia_id": "D1:1", "text": "I adopted a parrot called Kiwi"},
        {"speaker": "Tomas", "dia_id": "D1:2", "text": "Nice! I started learning the oboe"},
        {
            "speaker": "Ines",
            "dia_id": "D1:3",
            "text": "Look at this",
            "blip_caption": "a photo of a lighthouse at dusk",
        },
    ],
    "session_2_date_time": "6:30 pm on 9 March, 2024",
    "session_2": [
        {"speaker": "Tomas", "dia_id": "D2:1", "text": "My oboe teacher moved to Ghent"},
        {"speaker": "Ines", "dia_id": "D2:2", "text": "We repainted the kitchen yellow"},
    ],
    "qa": [
        {
            "question": "What is the parrot called?",
            "answer": "Kiwi",
            "evidence": ["D1:1"],
            "category": 1,
        },
        {
            "question": "Which instrument does Tomas learn, and where did his teacher move?",
            "answer": "oboe",
            "evidence": ["D1:2; D2:1"],
            "category": 4,
        },
        {
            "question": "What did the photo show?",
            "answer": "lighthouse",
            "evidence": ["D1:3"],
            "category": 2,
        },
        {
            "question": "What color is the garage?",
            "answer": "unknown",
            "evidence": [],
            "category": 5,
        },
        {"question": "Bad evidence", "answer": "-", "evidence": ["D9:9"], "category": 1},
    ],
}


@pytest.fixture
def data_dir(tmp_path):
    directory = tmp_path / "locomo"
    directory.mkdir()
    (directory / "c1.json").write_text(json.dumps(CONVERSATION))
    return directory


def test_loader_keeps_answerable_questions_with_known_evidence(data_dir):
    conversation = load_conversation(data_dir / "c1.json")
    assert [key for key, _ in conversation.memories] == ["D1:1", "D1:2", "D1:3", "D2:1", "D2:2"]
    first = dict(conversation.memories)["D1:3"]
    assert first["content"] == (
        "(9:00 am on 2 March, 2024) Ines: Look at this "
        "[shared a photo: a photo of a lighthouse at dusk]"
    )
    assert first["speaker"] == "Ines" and first["session"] == 1
    assert [q.evidence for q in conversation.questions] == [
        frozenset({"D1:1"}),
        frozenset({"D1:2", "D2:1"}),
        frozenset({"D1:3"}),
    ]


@pytest.mark.parametrize("backend", ["memory", "postgres"])
def test_eval_recall_json(data_dir, backend, fresh_database, monkeypatch, capsys):
    monkeypatch.setenv("POSTGRES_URI", fresh_database)
    monkeypatch.setenv("MEMORY_EMBEDDING_DIMS", "64")
    status = main(
        [
            "eval",
            "recall",
            "--data",
            str(data_dir),
            "--embeddings",
            "hash",
            "--k",
            "1,3",
            "--json",
            "--backend",
            backend,
        ]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 3
    assert report["memories"] == 5
    assert set(report["recall"]) == set(report["baseline"]) == {"R@1", "R@3"}
    assert report["recall"]["R@1"] == pytest.approx(100 * (1 + 0.5 + 1) / 3, abs=0.1)
    assert report["recall"]["R@3"] == 100.0
    assert report["ingest_per_s"] > 0
    assert 0 < report["query_p50_ms"] <= report["query_p95_ms"]


def test_eval_recall_table_and_lexical_only(data_dir, capsys):
    assert main(["eval", "recall", "--data", str(data_dir), "--embeddings", "none"]) == 0
    out = capsys.readouterr().out
    assert "recall (hybrid)" in out and "stock search" in out
    assert "3 questions over 5 memories" in out


def test_eval_recall_refuses_missing_data(tmp_path, capsys):
    assert main(["eval", "recall", "--data", str(tmp_path), "--embeddings", "none"]) == 2
    assert "no LoCoMo" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["eval", "recall", "--data", str(tmp_path), "--k", "0"])
    assert caught.value.code == 2
    assert "--k needs positive whole numbers" in capsys.readouterr().err
