"""ctrain.optim.BFO / AdaptiveBFO / HybridBFO and ctrain.numpy.BFO: the
invariants of include/ctrain/bfo.h seen from Python, closure semantics
(torch.optim.LBFGS is the reference for the missing-closure error), state
round trips, schedules, gradients and dtypes."""
import copy
import io
import math
import pickle

import numpy as np
import pytest
import torch

import ctrain.numpy as cnp
import ctrain.optim as copt


def rastrigin(x):
    x = np.asarray(x, dtype=np.float64)
    return float(np.sum(x * x - 10 * np.cos(2 * np.pi * x) + 10))


def rastrigin_batch(X):
    return np.sum(X * X - 10 * np.cos(2 * np.pi * X) + 10, axis=1)


# ---- NumPy front end -----------------------------------------------------------


@pytest.mark.parametrize("cls", [cnp.BFO, cnp.AdaptiveBFO, cnp.HybridBFO])
def test_numpy_invariants_and_exact_budget(cls):
    calls = []

    def fn(x):
        calls.append(x.copy())
        return rastrigin(x)

    opt = cls(fn, np.full(5, 2.5), bounds=(-5.12, 5.12), max_fe=1500, seed=4,
              population_size=12)
    while not opt.stopped:
        f = opt.step()
        # best_fitness is the objective's own value at best_params, bit for bit
        assert f == opt.best_fitness == rastrigin(opt.best_params)
        assert any(np.array_equal(c, opt.best_params) for c in calls)
        assert opt.n_evals == len(calls) <= 1500
    assert opt.n_evals == 1500
    assert np.all(np.abs(np.array(calls)) <= 5.12)
    assert opt.fitness_history == sorted(opt.fitness_history, reverse=True)


def test_numpy_batch_matches_pointwise_and_is_deterministic():
    a = cnp.BFO(rastrigin, np.ones(4), bounds=(-5.12, 5.12), max_fe=2000, seed=11)
    b = cnp.BFO(rastrigin_batch, np.ones(4), bounds=(-5.12, 5.12), max_fe=2000, seed=11,
                batch=True)
    xa, fa = a.minimize()
    xb, fb = b.minimize()
    assert np.array_equal(xa, xb) and fa == fb
    assert np.array_equal(a.population, b.population)
    c = cnp.BFO(rastrigin_batch, np.ones(4), bounds=(-5.12, 5.12), max_fe=2000, seed=12,
                batch=True)
    assert not np.array_equal(c.minimize()[0], xa)


def test_numpy_beats_start_and_converges_on_sphere():
    opt = cnp.BFO(lambda x: float(np.sum((x - 0.3) ** 2)), np.full(6, 3.0), max_fe=20000,
                  step_size_max=1.0, seed=0)
    x, f = opt.minimize()
    assert f < 1e-8 and np.allclose(x, 0.3, atol=1e-4)


class Boom(Exception):
    pass


def test_numpy_exception_propagates_unchanged():
    n = [0]
    fail_at = [None]
    err = Boom("bad objective")

    def fn(x):
        n[0] += 1
        if n[0] == fail_at[0]:
            raise err
        return rastrigin(x)

    opt = cnp.BFO(fn, np.full(3, 2.0), population_size=10, seed=1)
    opt.step()
    best_before = (opt.best_params.copy(), opt.best_fitness)
    fail_at[0] = n[0] + 50
    with pytest.raises(Boom) as ei:
        opt.step()
    assert ei.value is err
    assert np.array_equal(opt.best_params, best_before[0])
    assert opt.best_fitness == best_before[1]
    opt.step()  # still usable


def test_numpy_hybrid_gradient_helps():
    def fj(x):
        return float(np.sum((x - 0.5) ** 2)), 2 * (x - 0.5)

    res = {}
    for w in (0.0, 0.9):
        opt = cnp.HybridBFO(fj, np.linspace(-3, 3, 8), jac=True, max_fe=2000, seed=2,
                            population_size=10, step_size_max=2.0, gradient_weight=w)
        res[w] = opt.minimize()[1]
    assert res[0.9] < res[0.0] * 1e-2


def test_numpy_state_dict_roundtrip_and_diversity():
    mk = lambda: cnp.AdaptiveBFO(rastrigin_batch, np.full(3, 1.5), batch=True, seed=3,  # noqa: E731
                                 population_size=12, chemotaxis_steps=3)
    a = mk()
    a.step(max_fe=150)
    sd = copy.deepcopy(a.state_dict())
    for _ in range(3):
        a.step()
    b = mk()
    b.load_state_dict(sd)
    for _ in range(3):
        b.step()
    assert np.array_equal(a.best_params, b.best_params) and a.best_fitness == b.best_fitness
    assert np.array_equal(a.population, b.population)
    assert a.fitness_history == b.fitness_history
    pop = a.population
    ref = np.mean(np.linalg.norm(pop - pop.mean(axis=0), axis=1))
    assert a.compute_diversity() == pytest.approx(ref, rel=1e-12)
    assert a._compute_diversity() == a.compute_diversity()


def test_numpy_option_errors():
    with pytest.raises(ValueError, match="population_size"):
        cnp.BFO(rastrigin, np.ones(2), population_size=1)
    with pytest.raises(ValueError, match="step_size_min"):
        cnp.BFO(rastrigin, np.ones(2), step_size_min=1.0, step_size_max=0.5)
    with pytest.raises(ValueError, match="variant"):
        cnp.BFO(rastrigin, np.ones(2), variant="nope")
    with pytest.raises(TypeError, match="no_such"):
        cnp.BFO(rastrigin, np.ones(2), no_such=1)
    with pytest.raises(ValueError, match="max_population_size"):
        cnp.AdaptiveBFO(rastrigin, np.ones(2), population_size=500, max_population_size=100)
    with pytest.raises(ValueError, match="never end"):
        cnp.BFO(rastrigin, np.ones(2)).minimize()


# ---- torch front end -----------------------------------------------------------


def _problem(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(32, 4, generator=g)
    y = (X @ torch.tensor([1.0, -2.0, 0.5, 0.0]) > 0).long()
    model = torch.nn.Linear(4, 2).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g).to(dtype))
    return model, X.to(dtype), y


def _closure(model, X, y, calls=None, backward=False):
    def closure():
        if calls is not None:
            calls.append(1)
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X).float(), y)
        if backward:
            loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("cls", [copt.BFO, copt.AdaptiveBFO, copt.HybridBFO])
def test_torch_invariants(cls):
    model, X, y = _problem()
    calls = []
    opt = cls(model.parameters(), population_size=10, chemotaxis_steps=3, reproduction_steps=2,
              elimination_steps=1, max_fe=400, seed=5, step_size_max=0.5)
    closure = _closure(model, X, y, calls, backward=cls is copt.HybridBFO)
    check = _closure(model, X, y)
    start = check().item()
    calls.clear()
    for _ in range(10):
        out = opt.step(closure)
        assert out == opt.best_fitness
        for p, b in zip(model.parameters(), opt.best_params):
            assert torch.equal(p, b)
        with torch.no_grad():
            assert check().item() == opt.best_fitness  # objective at best_params
        assert opt.n_evals == len(calls) <= 400
    assert opt.n_evals == 400 and opt.stopped
    assert opt.best_fitness < start
    assert opt.population.shape[1] == sum(p.numel() for p in model.parameters())
    assert len(opt.fitness_history) == 10 and len(opt.diversity_history) == 10


def test_torch_missing_closure_error_matches_lbfgs_style():
    model, X, y = _problem()
    with pytest.raises(TypeError) as ref:
        torch.optim.LBFGS(model.parameters()).step()
    opt = copt.BFO(model.parameters())
    with pytest.raises(TypeError) as ours:
        opt.step()
    # torch: "LBFGS.step() missing 1 required positional argument: 'closure'"
    assert str(ref.value).replace("LBFGS", "BFO") in str(ours.value)
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)


def test_torch_closure_exception_restores_best_params():
    model, X, y = _problem()
    opt = copt.BFO(model.parameters(), population_size=6, chemotaxis_steps=2, seed=1)
    base = _closure(model, X, y)
    opt.step(base)
    best = [b.clone() for b in opt.best_params]
    f_before = opt.best_fitness
    n = [0]
    err = Boom("closure failed")

    def bad():
        n[0] += 1
        if n[0] == 17:
            raise err
        return base()

    with pytest.raises(Boom) as ei:
        opt.step(bad)
    assert ei.value is err  # not turned into a fitness value
    for p, b in zip(model.parameters(), best):
        assert torch.equal(p, b)
    assert opt.best_fitness == f_before
    opt.step(base)


def test_torch_state_dict_roundtrip_bit_identical():
    def make():
        model, X, y = _problem(seed=3)
        opt = copt.AdaptiveBFO(model.parameters(), population_size=10, chemotaxis_steps=3,
                               seed=8, min_population_size=6, max_population_size=20)
        return model, opt, _closure(model, X, y)

    m1, o1, c1 = make()
    o1.step(c1, max_fe=70)
    buf = io.BytesIO()
    torch.save(o1.state_dict(), buf)
    for _ in range(3):
        o1.step(c1)
    m2, o2, c2 = make()
    buf.seek(0)
    o2.load_state_dict(torch.load(buf, weights_only=True))
    for _ in range(3):
        o2.step(c2)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    assert o1.best_fitness == o2.best_fitness
    assert torch.equal(o1.population, o2.population)
    assert o1.fitness_history == o2.fitness_history
    assert o1.n_evals == o2.n_evals


def test_torch_deepcopy_and_pickle_continue_identically():
    model, X, y = _problem(seed=4)
    opt = copt.HybridBFO(model.parameters(), population_size=8, chemotaxis_steps=2, seed=3)
    opt.step(_closure(model, X, y, backward=True))
    copies = [copy.deepcopy((model, opt)), pickle.loads(pickle.dumps((model, opt)))]
    for m, o in [(model, opt)] + copies:
        for _ in range(2):
            o.step(_closure(m, *_problem(seed=4)[1:], backward=True))
    for m, o in copies:
        assert o.best_fitness == opt.best_fitness and o.n_evals == opt.n_evals
        assert o.fitness_history == opt.fitness_history
        for a, b in zip(model.parameters(), m.parameters()):
            assert torch.equal(a, b)


def test_adaptive_population_bounds_widen_to_the_population_asked_for():
    model, X, y = _problem()
    for S in (4, 150):
        opt = copt.AdaptiveBFO(model.parameters(), population_size=S, chemotaxis_steps=1,
                               max_fe=3 * S)
        g = opt.param_groups[0]
        assert g["min_population_size"] <= S <= g["max_population_size"]
        opt.step(_closure(model, X, y))
        assert opt.population.shape[0] == S
    with pytest.raises(ValueError, match="population_size"):
        copt.AdaptiveBFO(model.parameters(), population_size=4, min_population_size=10)

    class Spread(copt.BFO):
        def compute_diversity(self):
            return 42.0
    assert Spread(model.parameters())._compute_diversity() == 42.0


def test_torch_schedule_changes_take_effect_next_step():
    def run(change):
        model, X, y = _problem()
        opt = copt.BFO(model.parameters(), population_size=8, chemotaxis_steps=2, seed=2)
        c = _closure(model, X, y)
        opt.step(c)
        if change:
            opt.param_groups[0]["step_size_max"] = 0.02
            opt.param_groups[0]["elimination_prob"] = 0.9
        opt.step(c)
        return opt

    a, b = run(False), run(True)
    assert b._engine.get_option("step_size_max") == 0.02
    assert b._engine.get_option("elimination_prob") == 0.9
    assert b.stats["elimination_prob"] == 0.9
    assert b.stats["step_size"] <= 0.02
    assert not torch.equal(a.population, b.population)


def test_torch_hybrid_uses_backward_gradients():
    torch.manual_seed(0)
    A = torch.randn(20, 6, dtype=torch.float64)
    t = torch.randn(20, dtype=torch.float64)

    def run(w):
        p = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
        opt = copt.HybridBFO([p], gradient_weight=w, population_size=10, max_fe=1500, seed=0,
                             step_size_max=1.0)

        def closure():
            opt.zero_grad()
            loss = ((A @ p - t) ** 2).mean()
            loss.backward()  # grad must be enabled inside the closure
            return loss

        with torch.no_grad():  # step enables grad for the closure itself
            while not opt.stopped:
                opt.step(closure)
        return opt.best_fitness

    lstsq = torch.linalg.lstsq(A, t).solution
    fmin = ((A @ lstsq - t) ** 2).mean().item()
    g0, g9 = run(0.0), run(0.9)
    assert g9 - fmin < (g0 - fmin) * 0.05, (g0, g9, fmin)


def test_torch_hybrid_gradients_of_different_points_do_not_add_up():
    """A closure without zero_grad: each evaluation still sees the gradient
    of its own point only, and the engine is given exactly that gradient
    (gradient_weight=1: every tumble goes along -m/|m|, m = momentum m + g)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    a = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64)
    seen = []

    def closure():
        loss = (a * p * p).sum()
        loss.backward()
        seen.append((p.detach().clone(), p.grad.clone()))
        return loss

    opt = copt.HybridBFO([p], gradient_weight=1.0, momentum=0.0, population_size=4,
                         chemotaxis_steps=2, swim_length=0, reproduction_steps=1,
                         elimination_steps=1, elimination_prob=0.0, step_schedule="constant",
                         step_size_max=0.01, levy_alpha=2.0, restart=False)
    opt.step(closure)
    for x, g in seen:
        assert torch.equal(g, 2 * a * x)
    # momentum 0: a tumble from x goes to x - 0.01 g(x)/|g(x)|, g taken at x
    pts = [x for x, _ in seen]
    for i in range(4):
        x, g = pts[i], 2 * a * pts[i]
        assert torch.allclose(pts[4 + i], x - 0.01 * g / g.norm(), rtol=0, atol=1e-15)


def test_torch_hybrid_grad_after_step_is_the_gradient_at_best_params():
    """After a step (also one whose closure raised), .grad is what autograd
    gives at best_params, in each parameter's own shape and dtype."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    X, y = torch.randn(16, 3), torch.randn(16, 1)
    calls = [0]
    fail_at = [None]

    def closure():
        calls[0] += 1
        if fail_at[0] is not None and calls[0] >= fail_at[0]:
            raise RuntimeError("closure failed on purpose")
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        return loss

    def autograd_at_params():
        for p in model.parameters():
            p.grad = None
        with torch.enable_grad():
            torch.nn.functional.mse_loss(model(X), y).backward()
        return [p.grad.clone() for p in model.parameters()]

    opt = copt.HybridBFO(model.parameters(), population_size=8, chemotaxis_steps=3, seed=4)
    for _ in range(2):
        opt.step(closure)
        got = [p.grad.clone() for p in model.parameters()]
        assert all(g.shape == p.shape and g.dtype == p.dtype
                   for g, p in zip(got, model.parameters()))
        want = autograd_at_params()
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    fail_at[0] = calls[0] + 30
    with pytest.raises(RuntimeError, match="on purpose"):
        opt.step(closure)
    got = [p.grad.clone() for p in model.parameters()]
    fail_at[0] = None
    assert all(torch.equal(a, b) for a, b in zip(got, autograd_at_params()))


def test_numpy_hybrid_best_grad():
    def fj(x):
        return float(np.sum((x - 0.5) ** 2)), 2 * (x - 0.5)

    opt = cnp.HybridBFO(fj, np.linspace(-3, 3, 5), jac=True, seed=2, population_size=10)
    assert opt.best_grad is None
    opt.step()
    np.testing.assert_array_equal(opt.best_grad, fj(opt.best_params)[1])
    assert cnp.HybridBFO(lambda x: float(np.sum(x * x)), np.ones(3)).best_grad is None


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_torch_low_and_high_precision_params(dtype):
    model, X, y = _problem(dtype)
    opt = copt.BFO(model.parameters(), population_size=6, chemotaxis_steps=2, seed=0,
                   step_size_max=0.5)
    c = _closure(model, X, y)
    start = c().item()
    for _ in range(2):
        opt.step(c)
    for p, b in zip(model.parameters(), opt.best_params):
        assert p.dtype == dtype and b.dtype == dtype and torch.equal(p, b)
    with torch.no_grad():
        assert c().item() == opt.best_fitness
    assert opt.best_fitness <= start


def test_torch_option_errors():
    model, _, _ = _problem()
    with pytest.raises(ValueError, match="swim_length"):
        copt.BFO(model.parameters(), swim_length=-1)
    with pytest.raises(ValueError, match="elimination_prob"):
        copt.BFO(model.parameters(), elimination_prob=2.0)
    with pytest.raises(TypeError, match="gradient_weight"):
        copt.BFO(model.parameters(), gradient_weight=0.5)
    with pytest.raises(ValueError, match="momentum"):
        copt.HybridBFO(model.parameters(), momentum=1.0)
    opt = copt.BFO(model.parameters())
    opt.param_groups[0]["population_size"] = 0
    with pytest.raises(ValueError, match="population_size"):
        opt.step(lambda: 0.0)
    assert copt.BFO(model.parameters(), elim_prob=0.4).param_groups[0]["elimination_prob"] == 0.4


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_torch_objective_infinite_everywhere_keeps_the_parameters(value):
    """No point is better than another: the best is the first one evaluated,
    the parameters the optimizer started from, never an unevaluated point."""
    model, _, _ = _problem()
    start = [p.detach().clone() for p in model.parameters()]
    opt = copt.BFO(model.parameters(), population_size=6, chemotaxis_steps=2)
    f = opt.step(lambda: value)
    assert (math.isnan(f) and math.isnan(opt.best_fitness)) if value != value else \
        f == opt.best_fitness == value
    for p, s0, b in zip(model.parameters(), start, opt.best_params):
        assert torch.equal(p, s0) and torch.equal(b, s0)
    x, fb = cnp.BFO(lambda x: value, [1.0, 2.0], population_size=5, max_fe=40).minimize()
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_torch_load_state_dict_is_all_or_nothing():
    def make(cls, n_in, seed):
        model = torch.nn.Linear(n_in, 2)
        X = torch.randn(16, n_in, generator=torch.Generator().manual_seed(seed))
        opt = cls(model.parameters(), population_size=6, chemotaxis_steps=2, seed=seed)
        closure = _closure(model, X, torch.zeros(16, 2))
        opt.step(closure)
        return model, opt, closure

    _, oa, _ = make(copt.BFO, 3, 1)
    sd = oa.state_dict()
    for cls, n_in, match in ((copt.BFO, 4, "dim|dimension|size"),
                             (copt.AdaptiveBFO, 3, "lacks option")):
        model, ob, closure = make(cls, n_in, 2)
        before = (ob.best_fitness, ob.n_evals, ob.population.clone(),
                  list(ob.fitness_history), copy.deepcopy(ob.param_groups[0]["lr"]))
        params = [p.detach().clone() for p in model.parameters()]
        with pytest.raises(ValueError, match=match):
            ob.load_state_dict(sd)
        assert (ob.best_fitness, ob.n_evals) == before[:2]
        assert torch.equal(ob.population, before[2]) and ob.fitness_history == before[3]
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params))
        ob.step(closure)  # still usable, and continues from where it was
        assert ob.n_evals > before[1]


def test_a_raising_objective_counts_only_the_evaluations_it_finished():
    """The objective raises at its 3rd call of a step: 2 evaluations were
    made, so n_evals grows by 2 (not by the batch it was given)."""
    model, X, y = _problem()
    opt = copt.BFO(model.parameters(), population_size=6, chemotaxis_steps=2)
    base = _closure(model, X, y)
    n = [0]

    def bad():
        n[0] += 1
        if n[0] == 3:
            raise Boom("third call")
        return base()

    with pytest.raises(Boom):
        opt.step(bad)
    assert opt.n_evals == 2
    opt.step(base)
    n0 = opt.n_evals
    n[0] = 0
    with pytest.raises(Boom):
        opt.step(bad)
    assert opt.n_evals == n0 + 2
    for cls in (cnp.BFO, cnp.HybridBFO):
        calls = [0]

        def f(x):
            calls[0] += 1
            if calls[0] == 5:
                raise Boom("fifth call")
            return float(np.sum(x * x))

        o = cls(f, np.ones(3), population_size=6)
        with pytest.raises(Boom):
            o.step()
        assert o.n_evals == 4, cls
    # a batch function cannot say how far it got: its whole batch counts
    o = cnp.BFO(lambda X: 1 / 0, np.ones(3), population_size=6, batch=True)
    with pytest.raises(ZeroDivisionError):
        o.step()
    assert o.n_evals == 6


def test_torch_closure_must_return_a_number():
    model, X, y = _problem()
    opt = copt.BFO(model.parameters(), population_size=5, chemotaxis_steps=2)
    start = [p.detach().clone() for p in model.parameters()]
    for bad, what in ((lambda: None, "NoneType"), (lambda: "1.0", "str"),
                      (lambda: [1.0, 2.0], "2 values")):
        with pytest.raises((TypeError, ValueError), match=what):
            opt.step(bad)
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), start))
    assert opt.step(lambda: np.float32(2.5)) == 2.5
    with pytest.raises(TypeError, match="str"):
        cnp.BFO(lambda x: "1.0", [0.0], max_fe=20).minimize()


def test_bounds_of_the_wrong_length_name_the_option():
    model, X, y = _problem()
    n = sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match=f"lo has 3 values.*{n} parameter elements"):
        copt.BFO(model.parameters(), domain_bounds=(np.zeros(3), 1.0))
    with pytest.raises(ValueError, match="hi has 4 values .shape .2, 2.."):
        cnp.BFO(rastrigin, np.zeros(5), bounds=(-1.0, np.ones((2, 2))))
    with pytest.raises(ValueError, match="lo must be a number or an array"):
        cnp.BFO(rastrigin, np.zeros(5), bounds=(object(), 1.0))
    lo, hi = -np.arange(1.0, 6.0), np.arange(1.0, 6.0)  # one per element is fine
    assert cnp.BFO(rastrigin, np.zeros(5), bounds=(lo, hi), max_fe=30).minimize()[1] >= 0


def test_torch_groups_and_parameters_are_checked():
    a = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="appears twice"):
        copt.BFO([a, a])
    b = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError) as e:
        copt.BFO([{"params": [a]}, {"params": [b], "seed": 3}])
    msg = str(e.value)
    assert "option seed differs" in msg and msg.count("ctrain.optim.BFO") == 1, msg


# ---- docs/bfo.md -----------------------------------------------------------------


def _doc_blocks():
    import os
    import re
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "bfo.md")
    with open(doc) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


@pytest.mark.parametrize("i", range(len(_doc_blocks())))
def test_doc_example_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_doc_blocks()[i], f"docs/bfo.md example {i}", "exec"), {"__name__": "__doc__"})


# ---- step-size defaults relative to the domain ------------------------------------


def _eff(opt):
    return opt._engine.get_option("step_size_max"), opt._engine.get_option("step_size_min")


@pytest.mark.parametrize("cls", [cnp.BFO, cnp.AdaptiveBFO, cnp.HybridBFO])
def test_numpy_step_defaults_follow_bounds(cls):
    lo, hi = np.array([-5.0, -1.0, 0.0]), np.array([5.0, 1.0, 4.0])
    w = float(np.mean(hi - lo))
    x0 = np.zeros(3)
    smax, smin = _eff(cls(rastrigin, x0, bounds=(lo, hi)))
    assert smax == pytest.approx(0.03 * w, rel=1e-15) and smin == pytest.approx(1e-10 * w,
                                                                                 rel=1e-15)
    assert _eff(cls(rastrigin, x0)) == (0.1, 1e-4)  # no bounds: the absolute defaults
    opt = cls(rastrigin, x0, bounds=(lo, hi), step_size_max=0.7)
    assert _eff(opt) == (0.7, pytest.approx(1e-10 * w, rel=1e-15))  # given wins
    opt.set_options(step_size_min=1e-3)
    assert _eff(opt) == (0.7, 1e-3)
    # the options dict keeps "not given" as None
    assert cls(rastrigin, x0).options["step_size_max"] is None

    def run(bounds, **kw):
        o = cls(rastrigin_batch, np.full(3, 1.5), bounds=bounds, batch=True, seed=3,
                population_size=12, max_fe=600, **kw)
        o.minimize()
        return o.population.copy(), o.population_fitness.copy(), o.best_params.copy()

    # no bounds: bit-identical to the old defaults given explicitly
    for a, b in zip(run(None), run(None, step_size_max=0.1, step_size_min=1e-4)):
        assert np.array_equal(a, b)
    # bounds: the relative values given explicitly give the same run, the old ones another
    rel = run((lo, hi))
    for a, b in zip(rel, run((lo, hi), step_size_max=0.03 * w, step_size_min=1e-10 * w)):
        assert np.array_equal(a, b)
    assert not np.array_equal(rel[0], run((lo, hi), step_size_max=0.1, step_size_min=1e-4)[0])


@pytest.mark.parametrize("cls", [copt.BFO, copt.AdaptiveBFO, copt.HybridBFO])
def test_torch_step_defaults_follow_bounds_like_numpy(cls):
    model, X, y = _problem()
    n = sum(p.numel() for p in model.parameters())
    opt = cls(model.parameters(), domain_bounds=(-2.0, 3.0))
    ref = getattr(cnp, cls.__name__)(rastrigin, np.zeros(n), bounds=(-2.0, 3.0))
    assert _eff(opt) == _eff(ref) == (pytest.approx(0.03 * 5.0, rel=1e-15),
                                      pytest.approx(1e-10 * 5.0, rel=1e-15))
    assert _eff(cls(model.parameters())) == (0.1, 1e-4)
    opt = cls(model.parameters(), domain_bounds=(-2.0, 3.0), step_size_min=1e-6)
    assert _eff(opt) == (pytest.approx(0.15, rel=1e-15), 1e-6)
    opt.param_groups[0]["step_size_max"] = 0.4  # a schedule sets a number: it wins
    opt.step(_closure(model, X, y))
    assert _eff(opt) == (0.4, 1e-6)
