"""The layer profile the tagger reads comes from the same forward pass as the search vector."""

from __future__ import annotations

import numpy as np

from service.embedding import Embedder

TEXTS = [
    "DNS",
    "The API servers fell over when every node listed every pod at once.",
    "Certificate expired. " * 200,  # longer than the model reads: truncated the same way
    "A leak in the request-buffer pool OOM-killed the checkout containers within minutes.",
    "",
]


def test_layer_profile_vectors_are_the_search_vectors(embedder: Embedder) -> None:
    vectors, profile = embedder.encode_layers(TEXTS)
    plain = embedder.encode(TEXTS)
    dim = embedder.dimension
    assert vectors.shape == plain.shape == (len(TEXTS), dim)
    # same texts in the same order (encode_layers batches by length internally)
    assert np.all((vectors * plain).sum(axis=1) > 0.999)
    assert np.array_equal(vectors, profile[:, -dim:])
    layers = profile.reshape(len(TEXTS), -1, dim)
    assert layers.shape[1] == 7  # the embedding layer and six transformer layers
    assert np.allclose(np.linalg.norm(layers, axis=-1), 1.0, atol=1e-3)
    # the layers differ: lower ones are not copies of the last
    assert np.all((layers[:, 0] * layers[:, -1]).sum(axis=1) < 0.99)


def test_layer_profile_of_nothing(embedder: Embedder) -> None:
    vectors, profile = embedder.encode_layers([])
    assert vectors.shape == (0, embedder.dimension)
    assert profile.shape == (0, 7 * embedder.dimension)
