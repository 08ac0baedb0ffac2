"""The router's scoring: a multinomial logistic regression on MiniLM embeddings.

It is trained on the registry's embedded documents (each specialist's description and
examples, labeled with the specialist) when a router is built, and turns a subtask's embedding
into a probability per specialist. lbfgs on a fixed data order is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

INVERSE_REGULARISATION = 30.0
"""sklearn's C, chosen by leave-one-out accuracy on the dev split (30 and 100 tie, 10 scores
one task fewer)."""
MAX_ITERATIONS = 1000


@dataclass(frozen=True)
class Documents:
    """Embedded registry documents, row by row: text, unit vector, owning specialist."""

    texts: tuple[str, ...]
    vectors: np.ndarray
    owners: tuple[str, ...]

    def without(self, text: str) -> Documents:
        """The documents minus every copy of `text` (leave-one-out evaluation)."""
        keep = [i for i, stored in enumerate(self.texts) if stored != text]
        return Documents(
            texts=tuple(self.texts[i] for i in keep),
            vectors=self.vectors[keep],
            owners=tuple(self.owners[i] for i in keep),
        )


class Classifier:
    """Probabilities over the fleet's specialists for an embedded subtask."""

    def __init__(self, documents: Documents, names: list[str]) -> None:
        self.names = names
        self._classes = sorted(set(documents.owners))
        self._model: LogisticRegression | None = None
        if len(self._classes) > 1:
            # Imported here: scikit-learn (with scipy) loads only when a router is built, not on
            # `hi-moe --help` or `import graph.builder`.
            from sklearn.linear_model import LogisticRegression

            self._model = LogisticRegression(C=INVERSE_REGULARISATION, max_iter=MAX_ITERATIONS)
            self._model.fit(documents.vectors, np.array(documents.owners))

    def score(self, vector: np.ndarray) -> dict[str, float]:
        """Every specialist's probability, best first (a fleet of one gets 1.0)."""
        if self._model is None:
            return {self._classes[0]: 1.0}
        probabilities = self._model.predict_proba(vector.reshape(1, -1))[0]
        by_name = dict.fromkeys(self.names, 0.0)
        by_name.update(zip(self._model.classes_.tolist(), probabilities.tolist(), strict=True))
        return dict(sorted(by_name.items(), key=lambda item: -item[1]))
