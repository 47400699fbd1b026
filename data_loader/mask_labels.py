"""Labels of the face-mask task: mask state x gender x age bin -> one of 18 classes.

    class = mask * 6 + gender * 3 + age

mask:   0 wear (mask1..mask5), 1 incorrect (incorrect_mask), 2 not wear (normal)
gender: 0 male, 1 female
age:    0 below age_bins[0], 1 up to age_bins[1], 2 from age_bins[1] on (default 30 / 60)
"""
import numpy as np

HEADS = {"mask": 3, "gender": 2, "age": 3}
NUM_CLASSES = 18
MASK_NAMES = ["wear", "incorrect", "not wear"]
GENDER_NAMES = ["male", "female"]
AGE_NAMES = ["young", "middle", "old"]  # below age_bins[0], up to age_bins[1], from age_bins[1] on
HEAD_NAMES = {"mask": MASK_NAMES, "gender": GENDER_NAMES, "age": AGE_NAMES}
# The seven photos of each person, by file stem.
MASK_FILES = {"mask1": 0, "mask2": 0, "mask3": 0, "mask4": 0, "mask5": 0, "incorrect_mask": 1, "normal": 2}
DEFAULT_AGE_BINS = (30, 60)


def head_classes(age_bins=DEFAULT_AGE_BINS):
    """Each head's class names, the age bins spelled out:
    {"mask": [...], "gender": [...], "age": ["young (<30)", ...]}."""
    b0, b1 = check_age_bins(age_bins)
    age = [f"{AGE_NAMES[0]} (<{b0:g})", f"{AGE_NAMES[1]} ({b0:g} to <{b1:g})", f"{AGE_NAMES[2]} ({b1:g}+)"]
    return {"mask": list(MASK_NAMES), "gender": list(GENDER_NAMES), "age": age}


def class_names():
    """'wear/male/young', ... in class order."""
    return [f"{m}/{g}/{a}" for m in MASK_NAMES for g in GENDER_NAMES for a in AGE_NAMES]


def check_age_bins(age_bins):
    """Two increasing thresholds, e.g. [30, 60] or [30, 58]; a ValueError otherwise."""
    bins = list(age_bins)
    if len(bins) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bins) \
            or not bins[0] < bins[1]:
        raise ValueError(f"age_bins: expected two increasing thresholds such as [30, 60], got {age_bins!r}")
    return bins


def age_bin(age, age_bins=DEFAULT_AGE_BINS):
    """0 for age < age_bins[0], 1 for age < age_bins[1], else 2 (works on scalars and arrays)."""
    return np.digitize(age, check_age_bins(age_bins))


def encode(mask, gender, age):
    """Head labels -> class in 0..17 (scalars, numpy arrays or tensors)."""
    return mask * 6 + gender * 3 + age


def decode(label):
    """Class in 0..17 -> (mask, gender, age)."""
    return label // 6, (label // 3) % 2, label % 3
