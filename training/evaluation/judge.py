"""The blind judge: can a simple classifier tell the owner's real replies from generated ones?

Character 1–4-gram TF-IDF + logistic regression (scikit-learn), 5-fold stratified cross-validation,
real replies (label 1) vs generated (label 0); the score is the mean held-out accuracy. 0.5 means
indistinguishable (what we want), 1.0 means every generated reply gives itself away. With fewer than
`MIN_PER_CLASS` replies on either side there is no honest estimate and the answer is None.
"""

from __future__ import annotations

from collections.abc import Sequence

from model.dialogue import join_messages

MIN_PER_CLASS = 10
FOLDS = 5
SEED = 0


def reply_text(messages: Sequence[str]) -> str:
    """A reply as the judge reads it: its messages joined the way the model writes them."""
    return join_messages(list(messages))


def blind_judge_accuracy(real: Sequence[Sequence[str]], generated: Sequence[Sequence[str]]) -> float | None:
    """Mean cross-validated accuracy of telling `real` from `generated` (None below 10 per class)."""
    if min(len(real), len(generated)) < MIN_PER_CLASS:
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    texts = [reply_text(r) for r in real] + [reply_text(g) for g in generated]
    labels = [1] * len(real) + [0] * len(generated)
    pipeline = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False, sublinear_tf=True),
        LogisticRegression(max_iter=1000),
    )
    folds = StratifiedKFold(n_splits=min(FOLDS, len(real), len(generated)), shuffle=True, random_state=SEED)
    return round(float(cross_val_score(pipeline, texts, labels, cv=folds, scoring="accuracy").mean()), 4)
