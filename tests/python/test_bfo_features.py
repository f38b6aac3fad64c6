"""Each BFO feature does what docs/bfo.md says, checked on the points the
engine asks the objective to evaluate (every batch is recorded) against the
rule recomputed here in NumPy: Lévy tumble lengths against Mantegna's
algorithm sampled by NumPy, the swims that cell-to-cell attraction and
repulsion (Jcc) allow, HybridBFO's momentum direction, the exponential and
linear step schedules, AdaptiveBFO's step-size scale and its diversity
threshold, reflecting bounds, and reproduction. Each test fails when its
feature is switched off in src/bfo/bfo.c.
"""
import math

import numpy as np
import pytest
from scipy import stats

import ctrain.numpy as cn

FLAT = dict(chemotaxis_steps=1, swim_length=0, reproduction_steps=1, elimination_steps=1,
            elimination_prob=0.0, restart=False, social_prob=0.0)


class Recorder:
    """A batch objective that keeps every batch it is given."""

    def __init__(self, f):
        self.f = f
        self.batches = []

    def __call__(self, X):
        self.batches.append(np.array(X))
        return [self.f(x) for x in X]


def mantegna(alpha, n, rng):
    """Mantegna (1994): u / |v|^(1/alpha), u ~ N(0, sigma_u^2), v ~ N(0, 1)."""
    su = (math.gamma(1 + alpha) * math.sin(math.pi * alpha / 2)
          / (math.gamma((1 + alpha) / 2) * alpha * 2 ** ((alpha - 1) / 2))) ** (1 / alpha)
    return rng.normal(0, su, n) / np.abs(rng.normal(0, 1, n)) ** (1 / alpha)


@pytest.mark.parametrize("alpha", [1.5, 1.2])
def test_levy_tumble_lengths_follow_mantegna(alpha):
    """1-D, flat objective, constant step 1: a tumble moves bacterium i by
    min(|L_i|, 10) (docs/bfo.md), L Mantegna's Lévy variate; levy_alpha=2
    turns it off (every move exactly 1)."""
    n = 4000
    lengths = {}
    for a in (alpha, 2.0):
        rec = Recorder(lambda x: 0.0)
        opt = cn.BFO(rec, [0.0], batch=True, population_size=n, step_schedule="constant",
                     step_size_max=1.0, levy_alpha=a, init_scale=1.0, **FLAT)
        opt.step()
        init, tumble = rec.batches[:2]
        assert init.shape == tumble.shape == (n, 1)
        lengths[a] = np.abs(tumble - init)[:, 0]
    np.testing.assert_allclose(lengths[2.0], 1.0, rtol=1e-12)
    ref = np.minimum(np.abs(mantegna(alpha, 200000, np.random.default_rng(0))), 10)
    res = stats.ks_2samp(lengths[alpha], ref)
    assert res.pvalue > 1e-3, (res, np.median(lengths[alpha]), np.median(ref))
    assert np.mean(lengths[alpha] == 10) > 0.005  # the clipped tail is there


def jcc(x, pop, da=0.1, wa=0.2, hr=0.1, wr=10.0):
    d2 = np.sum((pop - x) ** 2, axis=1)
    return float(np.sum(-da * np.exp(-wa * d2) + hr * np.exp(-wr * d2)))


@pytest.mark.parametrize("swarming", [True, False])
def test_swims_follow_the_cell_to_cell_term(swarming):
    """Classic variant, flat objective: J = Jcc alone. A tumble always moves
    (Passino); the bacterium swims on iff J at its new place is lower than J
    at the start of the generation, each J taken over the population as it is
    when the bacterium is processed (earlier ones already moved, itself not
    yet). Without
    swarming J is constant and nobody swims."""
    n = 40
    rec = Recorder(lambda x: 0.0)
    opt = cn.BFO(rec, [0.0, 0.0], batch=True, population_size=n, variant="classic",
                 step_schedule="constant", step_size_max=0.3, init_scale=1.0,
                 swarming=swarming, **dict(FLAT, swim_length=1))
    opt.step()
    p0, t = rec.batches[0], rec.batches[1]
    pop = p0.copy()
    jcur = [jcc(p0[i], p0) if swarming else 0.0 for i in range(n)]
    swims = []
    for i in range(n):
        jn = jcc(t[i], pop) if swarming else 0.0  # its own old place still counts
        if jn < jcur[i]:
            swims.append(i)
        pop[i] = t[i]
    got = []
    if len(rec.batches) > 2:
        swim = rec.batches[2]
        want_rows = 2 * t - p0  # one more step along the tumble direction
        for row in swim:
            got.append(int(np.argmin(np.sum((want_rows - row) ** 2, axis=1))))
            assert np.allclose(want_rows[got[-1]], row, rtol=0, atol=1e-12)
    assert got == swims
    if swarming:
        assert 5 <= len(swims) <= n - 5  # the term decides, both ways
    else:
        assert swims == []


def test_hybrid_tumbles_follow_the_momentum_gradient():
    """gradient_weight=1: the tumble direction is -m/|m| with m = momentum * m
    + gradient at the bacterium's current point, accumulated over generations
    (m starts at 0)."""
    a = np.array([1.0, 25.0])  # an ellipse: gradients turn as bacteria move
    calls = []

    def fg(x):
        calls.append(np.array(x))
        return float(np.sum(a * x * x)), 2 * a * x

    beta, step, n = 0.7, 0.05, 6
    opt = cn.HybridBFO(fg, [1.0, 0.5], jac=True, population_size=n, gradient_weight=1.0,
                       momentum=beta, step_schedule="constant", step_size_max=step,
                       levy_alpha=2.0, init_scale=0.5, **dict(FLAT, chemotaxis_steps=3))
    opt.step()
    X = np.array(calls)
    pos = X[:n].copy()
    m = np.zeros((n, 2))
    off = n
    for gen in range(3):
        tumble = X[off:off + n]
        for i in range(n):
            m[i] = beta * m[i] + 2 * a * pos[i]
            want = pos[i] - step * m[i] / np.linalg.norm(m[i])
            np.testing.assert_allclose(tumble[i], want, rtol=1e-12, atol=1e-15,
                                       err_msg=f"generation {gen} bacterium {i}")
            if np.sum(a * tumble[i] ** 2) < np.sum(a * pos[i] ** 2):  # enhanced: if better
                pos[i] = tumble[i]
        off += n
    assert off == len(X)


@pytest.mark.parametrize("schedule", ["exponential", "linear"])
def test_step_schedules_decay_over_the_budget(schedule):
    """Classic variant in 1-D (a tumble moves by exactly the step): each
    generation's step is smax * (smin / smax)^p (exponential) or
    smax - (smax - smin) p (linear), p = evaluations so far / max_fe."""
    smax, smin, n, budget = 1.0, 1e-3, 20, 400
    rec = Recorder(lambda x: 0.0)
    opt = cn.BFO(rec, [0.0], batch=True, population_size=n, variant="classic",
                 step_schedule=schedule, step_size_max=smax, step_size_min=smin, max_fe=budget,
                 init_scale=1.0, **dict(FLAT, chemotaxis_steps=100))
    opt.step()
    done = n
    prev = rec.batches[0][:, 0]
    assert len(rec.batches) == budget // n
    for batch in rec.batches[1:]:
        p = done / budget
        want = smax * (smin / smax) ** p if schedule == "exponential" else smax - (smax - smin) * p
        np.testing.assert_allclose(np.abs(batch[:, 0] - prev), want, rtol=1e-9)
        prev = batch[:, 0]
        done += len(batch)


@pytest.mark.parametrize("improving", [False, True])
def test_adaptive_step_scale(improving):
    """AdaptiveBFO: after a step that improved the best (the first always
    does) the step-size scale grows by 1 + adaptation_rate, else it shrinks
    by 1 - adaptation_rate
    (capped at 10 and 1e-6); a constant schedule moves by step_size_max times
    the scale (1-D, classic)."""
    r, smax = 0.2, 0.01
    count = [0]

    def f(x):
        count[0] += 1
        return -float(count[0]) if improving else 0.0

    rec = Recorder(f)
    opt = cn.AdaptiveBFO(rec, [0.0], batch=True, population_size=10, min_population_size=10,
                         max_population_size=10, variant="classic", step_schedule="constant",
                         step_size_max=smax, step_size_min=1e-9, adaptation_rate=r,
                         init_scale=1.0, **FLAT)
    scale = 1.0
    for s in range(6):
        k = len(rec.batches)
        base = opt.population.copy() if s else None
        opt.step()
        if s == 0:
            base, tumble = rec.batches[0], rec.batches[1]
        else:
            assert len(rec.batches) == k + 1
            tumble = rec.batches[k]
        np.testing.assert_allclose(np.abs(tumble - base), smax * scale, rtol=1e-9,
                                   err_msg=f"step {s}")
        # the first step always improves: from no value (+inf) to one
        up = improving or s == 0
        scale = min(10.0, scale * (1 + r)) if up else max(1e-6, scale * (1 - r))


def test_adaptive_elimination_follows_the_diversity_threshold():
    """After a step, diversity below diversity_threshold raises the
    elimination probability to min(0.95, p (1 + r) + 0.1 r); above it, p
    relaxes towards elimination_prob by r."""
    r, ped = 0.3, 0.25

    def run(thr):
        opt = cn.AdaptiveBFO(lambda x: float(np.sum(x * x)), [1.0, 2.0], population_size=12,
                             min_population_size=12, max_population_size=12,
                             adaptation_rate=r, elimination_prob=ped, diversity_threshold=thr,
                             chemotaxis_steps=3, seed=4)
        out = []
        for _ in range(2):
            opt.step()
            out.append((opt.compute_diversity(), opt.stats["elimination_prob"]))
        return out

    first = run(1e-3)
    div = first[0][0]
    low = run(div * 4)
    p1 = min(0.95, ped * (1 + r) + 0.1 * r)
    assert low[0][0] == div and low[0][1] == pytest.approx(p1, rel=1e-12)
    high = run(div / 4)
    assert high[0][1] == pytest.approx(ped, rel=1e-12)
    # from a raised probability, a diverse population relaxes it towards ped
    opt = cn.AdaptiveBFO(lambda x: float(np.sum(x * x)), [1.0, 2.0], population_size=12,
                         min_population_size=12, max_population_size=12, adaptation_rate=r,
                         elimination_prob=ped, diversity_threshold=div * 4, chemotaxis_steps=3,
                         seed=4)
    opt.step()
    opt.set_options(diversity_threshold=0.0)
    opt.step()
    assert opt.stats["elimination_prob"] == pytest.approx(p1 + r * (ped - p1), rel=1e-12)


def reflect(v, lo=0.0, hi=1.0):
    for _ in range(4):
        if lo <= v <= hi:
            break
        v = 2 * lo - v if v < lo else 2 * hi - v
    return min(max(v, lo), hi)


@pytest.mark.parametrize("handling", ["reflect", "clamp"])
def test_bounds_reflect_or_clamp(handling):
    """A tumble that leaves [0, 1] comes back mirrored at the bound
    (reflect) or onto it (clamp); 1-D classic, a move of exactly 0.4."""
    rec = Recorder(lambda x: 0.0)
    opt = cn.BFO(rec, [0.5], batch=True, bounds=([0.0], [1.0]), population_size=50,
                 variant="classic", step_schedule="constant", step_size_max=0.4,
                 bound_handling=handling, **FLAT)
    opt.step()
    p0, t = rec.batches[0][:, 0], rec.batches[1][:, 0]
    fix = reflect if handling == "reflect" else (lambda v: min(max(v, 0.0), 1.0))
    outside = 0
    for a, b in zip(p0, t):
        cands = [fix(a + 0.4), fix(a - 0.4)]
        assert min(abs(b - c) for c in cands) < 1e-12, (a, b, cands)
        outside += not (0 <= a + 0.4 <= 1 and 0 <= a - 0.4 <= 1)
    assert outside >= 10
    on_bound = np.sum((t == 0.0) | (t == 1.0))
    assert (on_bound == 0) if handling == "reflect" else (on_bound >= 5)


def test_reproduction_copies_the_healthier_half():
    """After the chemotaxis of a reproduction cycle, the half of the
    population with the lowest health (the sum of J over the cycle's
    generations) is split: each survivor appears twice, the rest are gone."""
    n = 20
    rec = Recorder(lambda x: float(np.sum(x * x)))
    opt = cn.BFO(rec, [2.0, -1.0], batch=True, population_size=n, variant="classic",
                 step_schedule="constant", step_size_max=0.1, init_scale=1.0,
                 **dict(FLAT, chemotaxis_steps=2))
    opt.step()
    pop = opt.population
    rows, counts = np.unique(pop, axis=0, return_counts=True)
    assert len(rows) == n // 2 and np.all(counts == 2)
    # the survivors are the bacteria with the lowest health, J summed after
    # each generation's moves (classic tumbles always move, swim_length 0):
    # J after generation 1 plus J after generation 2, where they end
    t1, t2 = rec.batches[1], rec.batches[2]
    assert len(rec.batches) == 3
    f = lambda X: np.sum(X * X, axis=1)  # noqa: E731
    health = f(t1) + f(t2)
    best = np.argsort(health, kind="stable")[: n // 2]
    np.testing.assert_array_equal(np.unique(t2[best], axis=0), rows)


@pytest.mark.parametrize("ped", [0.0, 0.5])
def test_elimination_disperses_each_bacterium_with_its_probability(ped):
    """Elimination-dispersal at the end of an elimination cycle: each
    bacterium is replaced, with probability elimination_prob, by a point
    uniform in the bounds, evaluated right away (one batch after the
    cycle's last generation); the others keep their places (classic
    variant: no elite is kept)."""
    n = 400
    rec = Recorder(lambda x: float(np.sum(x * x)))
    opt = cn.BFO(rec, [0.5, 0.5], batch=True, bounds=([0.0, 0.0], [1.0, 1.0]),
                 population_size=n, variant="classic", step_schedule="constant",
                 step_size_max=1e-3, **dict(FLAT, elimination_prob=ped))
    opt.step()
    sizes = [len(b) for b in rec.batches]
    if ped == 0:
        assert sizes == [n, n]
        return
    assert sizes[:2] == [n, n] and len(sizes) == 3
    k = sizes[2]
    assert abs(k - ped * n) <= 4 * math.sqrt(n * ped * (1 - ped)), k
    dispersed = rec.batches[2]
    assert stats.kstest(dispersed[:, 0], "uniform").pvalue > 1e-3
    assert stats.kstest(dispersed[:, 1], "uniform").pvalue > 1e-3
    # the population is the tumbled one (reproduced) with the dispersed points in
    pop = {tuple(r) for r in opt.population}
    assert {tuple(r) for r in dispersed} <= pop
    assert len(pop - {tuple(r) for r in dispersed}) >= (n - k) // 2
