"""ctrain: optimizers with torch.optim's numerics, run by a C engine.

    import ctrain.optim            # torch.optim.Optimizer subclasses
    opt = ctrain.optim.AdamW(model.parameters(), lr=1e-3)

    import ctrain.numpy            # the same optimizers for NumPy arrays
    opt = ctrain.numpy.AdamW([w, b], lr=1e-3); opt.step([gw, gb])

    import ctrain.data             # DLIO workloads as NumPy, PyTorch and tf.data loaders

The submodules are imported on demand, so `import ctrain` needs neither
PyTorch nor NumPy. docs/pytorch.md and docs/data.md have the details.
"""
import importlib

from ._lib import (CtrainError, NotImplementedKind, get_num_threads, kind_names,
                   set_num_threads, version)

__version__ = "0.1.0"
__all__ = ["optim", "numpy", "data", "CtrainError", "NotImplementedKind", "kind_names", "version",
           "set_num_threads", "get_num_threads"]


def __getattr__(name):
    if name in ("optim", "numpy", "data"):
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'ctrain' has no attribute {name!r}")
