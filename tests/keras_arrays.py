"""Test helper: backend tensors and Keras variables as NumPy arrays."""

import numpy as np


def to_numpy(x) -> np.ndarray:
    """Tensor or keras Variable -> numpy.

    Not keras.ops.convert_to_numpy / Model.get_weights: with numpy 2.4 they warn
    (DeprecationWarning, an error here) on torch tensors and TF variables.
    """
    value = getattr(x, "value", None)  # keras.Variable -> backend tensor/variable
    if value is not None and not callable(value):  # (tf.Variable.value is a method)
        x = value
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy"):
        return x.numpy()
    return np.asarray(x)
