"""From face-attribute model outputs to probabilities of the 18 classes and of each head.

A three-head model (mask 3, gender 2, age 3) gives the 18-class probabilities as the product
p(mask) p(gender) p(age) (class = mask*6 + gender*3 + age), whose argmax is exactly the
per-head argmaxes combined. An 18-way model gives each head's probabilities by summing its
classes. Used by the metrics, the submission writer and the ensembling tool alike.
"""
from data_loader.mask_labels import HEADS, NUM_CLASSES, encode
from utils.targets import class_index

KINDS = ("auto", "class", *HEADS)


def class_from_heads(heads):
    """(N, 18) joint probabilities from {"mask": (N,3), "gender": (N,2), "age": (N,3)} probabilities."""
    m, g, a = (heads[h] for h in HEADS)
    return (m[:, :, None, None] * g[:, None, :, None] * a[:, None, None, :]).flatten(1)


def heads_from_class(probs):
    """Each head's (N, K) probabilities from (N, 18) class probabilities."""
    p = probs.view(-1, 3, 2, 3)
    return {"mask": p.sum((2, 3)), "gender": p.sum((1, 3)), "age": p.sum((1, 2))}


def output_kind(outputs, kind="auto"):
    """What a model output holds: 'heads' (a dict), 'class' (18-way), or one head ('mask', ...)."""
    if isinstance(outputs, dict):
        missing = [h for h in HEADS if h not in outputs]
        if missing:
            raise ValueError(f"the model's heads {sorted(outputs)} lack {missing}; a face-attribute model returns "
                             f"{list(HEADS)}")
        return "heads"
    if kind == "auto":
        if outputs.shape[-1] != NUM_CLASSES:
            raise ValueError(f"a {outputs.shape[-1]}-way output is not the 18 classes: say which head it is "
                             f"(output: {list(HEADS)})")
        return "class"
    if outputs.shape[-1] != (NUM_CLASSES if kind == "class" else HEADS[kind]):
        raise ValueError(f"output '{kind}' should have {NUM_CLASSES if kind == 'class' else HEADS[kind]} classes, "
                         f"the model gives {outputs.shape[-1]}")
    return kind


def probabilities(outputs, kind="auto"):
    """{"class": (N,18), "mask": ..., "gender": ..., "age": ...} softmax probabilities (only the
    single head for a one-head model)."""
    kind = output_kind(outputs, kind)
    if kind == "heads":
        heads = {h: outputs[h].float().softmax(-1) for h in HEADS}
        return {"class": class_from_heads(heads), **heads}
    probs = outputs.float().softmax(-1)
    if kind == "class":
        return {"class": probs, **heads_from_class(probs)}
    return {kind: probs}


def class_scores(outputs):
    """(N, 18) logit-like scores: the log joint probability for heads, the logits of an 18-way model."""
    if output_kind(outputs) == "heads":
        return sum_log_heads({h: outputs[h].float().log_softmax(-1) for h in HEADS})
    return outputs


def sum_log_heads(log_heads):
    m, g, a = (log_heads[h] for h in HEADS)
    return (m[:, :, None, None] + g[:, None, :, None] + a[:, None, None, :]).flatten(1)


def target_classes(targets):
    """(N,) class labels from a dict of head targets or a class target (indices or distributions)."""
    if isinstance(targets, dict):
        return encode(*(class_index(targets[h]) for h in ("mask", "gender", "age")))
    return class_index(targets)
