"""Class targets come as indices (N,) or, after mixup / CutMix / label smoothing, as class
distributions (N, K). Losses, metrics and the batch mixers tell them apart here."""


def is_soft(target, logits=None):
    """True for a class distribution: floating point with the logits' rank (2 when not given)."""
    return target.is_floating_point() and target.dim() == (2 if logits is None else logits.dim())


def class_index(target, logits=None):
    """Integer labels from hard labels or from soft label distributions (their argmax)."""
    return target.argmax(-1) if is_soft(target, logits) else target.long()
