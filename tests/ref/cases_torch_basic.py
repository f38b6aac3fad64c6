"""Reference cases for SGD, Adam and AdamW against torch.optim."""
import torch

# Two groups of different shapes; the second gets different options.
SHAPES = [[(37,), (5, 8)], [(3, 4, 2)]]


def sgd(name, g0, g1, c0, c1, **extra):
    return dict(name=name, shapes=SHAPES, torch_opt=lambda gs: torch.optim.SGD(gs, lr=0.01),
                torch_groups=[g0, g1], ctrain_opt="sgd", ctrain_groups=[c0, c1], **extra)


def adam(kind, name, g0, g1, c0, c1, **extra):
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    return dict(name=name, shapes=SHAPES, torch_opt=lambda gs: cls(gs), torch_groups=[g0, g1],
                ctrain_opt=kind, ctrain_groups=[c0, c1], **extra)


CASES = [
    sgd("sgd_plain", dict(lr=0.05), dict(lr=0.01), "lr=0.05", "lr=0.01"),
    sgd("sgd_momentum_wd", dict(lr=0.02, momentum=0.9, weight_decay=1e-2),
        dict(lr=0.01, momentum=0.5, dampening=0.3),
        "lr=0.02 momentum=0.9 weight_decay=1e-2", "lr=0.01 momentum=0.5 dampening=0.3"),
    sgd("sgd_nesterov_maximize", dict(lr=0.02, momentum=0.9, nesterov=True),
        dict(lr=0.01, momentum=0.8, maximize=True, weight_decay=1e-3),
        "lr=0.02 momentum=0.9 nesterov=true", "lr=0.01 momentum=0.8 maximize=true weight_decay=1e-3"),
    sgd("sgd_momentum_skipped_grads", dict(lr=0.02, momentum=0.9), dict(lr=0.01, momentum=0.9),
        "lr=0.02 momentum=0.9", "lr=0.01 momentum=0.9",
        grad_mask=lambda t, i: not (i == 1 and t % 7 == 3) and not (i == 2 and t < 5)),
    adam("adam", "adam_default", dict(), dict(lr=3e-3, betas=(0.8, 0.99)), "", "lr=3e-3 betas=0.8,0.99"),
    adam("adam", "adam_amsgrad_wd", dict(amsgrad=True, weight_decay=1e-2), dict(lr=1e-2, eps=1e-6),
         "amsgrad=true weight_decay=1e-2", "lr=1e-2 eps=1e-6"),
    adam("adam", "adam_maximize", dict(maximize=True, lr=2e-3), dict(amsgrad=True, maximize=True),
         "maximize=true lr=2e-3", "amsgrad=true maximize=true"),
    adam("adamw", "adamw_default", dict(), dict(weight_decay=0.1, lr=5e-3), "", "weight_decay=0.1 lr=5e-3"),
    adam("adamw", "adamw_amsgrad_maximize", dict(amsgrad=True), dict(maximize=True, betas=(0.95, 0.9)),
         "amsgrad=true", "maximize=true betas=0.95,0.9"),
    adam("adamw", "adamw_skipped_grads", dict(), dict(lr=1e-2), "", "lr=1e-2",
         grad_mask=lambda t, i: not (i == 0 and t % 5 == 0)),
]
