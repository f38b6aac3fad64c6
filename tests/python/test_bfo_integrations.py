"""The BFO family (ctrain.optim.BFO, AdaptiveBFO, HybridBFO) inside the tools
the users' guide of the older package (pytorch_bfo_optimizer) wires it into:
PyTorch Lightning manual optimization (and its checkpoint/resume), a Hugging
Face Trainer subclass, two processes under torch.distributed (gloo)
splitting the population, bf16 autocast inside the closure, a schedule of
step_size_max / elimination_prob through param_groups, and TensorBoard
logging read back from the event file. docs/bfo.md "Framework integration"
shows the same patterns.

Everything on the CPU and small: one tiny MLP (4-8-1, 49 parameters) on one
fixed regression batch, so the objective of every step is the same function
and "the best fitness falls" is a property of the optimizer, not of batches.
The heavy frameworks are imported inside the tests so that the spawned
torch.distributed workers import only torch and ctrain.
"""
import csv
import os
import sys
import types
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ctrain.optim as co

torch.set_num_threads(1)

# Small and fast: at most S * Nc * (1 + Ns) * Nre * Ned = 8*4*3*2*1 = 192 closure
# calls per step.
FAST = dict(population_size=8, chemotaxis_steps=4, swim_length=2, reproduction_steps=2,
            elimination_steps=1, elimination_prob=0.25, step_size_max=0.1, step_size_min=0.01)
CLASSES = {"BFO": co.BFO, "AdaptiveBFO": co.AdaptiveBFO, "HybridBFO": co.HybridBFO}
# AdaptiveBFO resizes its population within [min_population_size, max_population_size]
# (defaults 10 and 100), which must hold population_size.
EXTRA = {"BFO": {}, "AdaptiveBFO": dict(min_population_size=4, max_population_size=16),
         "HybridBFO": {}}


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def tiny_data(n=64):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g)
    w = torch.randn(4, 1, generator=g)
    return x, torch.sin(x @ w) + 0.5


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def as_float(v):
    return float(v.item() if isinstance(v, torch.Tensor) else v)


def mean_distance_to_centroid(pop):
    """The population diversity of the older package (REFERENCE.md): the mean
    Euclidean distance of the bacteria from the population mean."""
    pop = torch.as_tensor(pop, dtype=torch.float64).reshape(pop.shape[0], -1)
    return float((pop - pop.mean(0)).norm(dim=1).mean())


def closure_for(opt, model, x, y, backward=False):
    def closure():
        opt.zero_grad()
        loss = mse(model, x, y)
        if backward:
            loss.backward()
        return loss
    return closure


# ---------------------------------------------------------------- Lightning


def _lightning_module(cls_name):
    import lightning.pytorch as pl

    class LitBFO(pl.LightningModule):
        """The users' guide pattern: manual optimization, a closure that calls
        manual_backward, opt.step(closure)."""

        def __init__(self):
            super().__init__()
            self.automatic_optimization = False
            self.net = tiny_model()
            self.closure_calls = 0
            self.step_results = []

        def forward(self, x):
            return self.net(x)

        def configure_optimizers(self):
            return CLASSES[cls_name](self.net.parameters(), seed=3, **FAST, **EXTRA[cls_name])

        def training_step(self, batch, batch_idx):
            x, y = batch
            opt = self.optimizers()

            def closure():
                opt.zero_grad()
                loss = mse(self.net, x, y)
                self.manual_backward(loss)
                self.closure_calls += 1
                return loss

            loss = opt.step(closure=closure)
            self.step_results.append(as_float(loss))
            self.log("train_loss", as_float(loss))

    class BFOCallback(pl.Callback):
        """Logs the optimizer's best fitness and population diversity after
        every batch, as the users' guide does."""

        def __init__(self):
            self.rows = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            opt = trainer.optimizers[0]
            row = {"best_fitness": as_float(opt.best_fitness),
                   "population_diversity": as_float(opt._compute_diversity())}
            trainer.logger.log_metrics(row, step=trainer.global_step)
            self.rows.append((trainer.global_step, row, opt.population.detach().clone()))

    return LitBFO(), BFOCallback()


@pytest.mark.parametrize("cls_name", sorted(CLASSES))
def test_lightning_manual_optimization(cls_name, tmp_path):
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    warnings.filterwarnings("ignore")
    x, y = tiny_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=len(x))
    module, monitor = _lightning_module(cls_name)
    initial = float(mse(module.net, x, y))
    logger = CSVLogger(str(tmp_path), name="bfo", version=0)
    trainer = pl.Trainer(max_epochs=8, accelerator="cpu", devices=1, logger=logger,
                         callbacks=[monitor], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False,
                         log_every_n_steps=1, default_root_dir=str(tmp_path))
    trainer.fit(module, loader)

    opt = trainer.optimizers[0]
    assert isinstance(opt, CLASSES[cls_name])
    assert trainer.global_step == 8 and len(monitor.rows) == 8
    assert module.closure_calls > 8 * FAST["population_size"]  # many evaluations per step
    best = [row["best_fitness"] for _, row, _ in monitor.rows]
    # one objective for every step: the best so far never rises, and it fell
    assert all(b1 <= b0 for b0, b1 in zip(best, best[1:])), best
    assert best[-1] < best[0] and best[-1] < initial, (initial, best)
    # the module holds the best point and best_fitness is the objective there
    with torch.no_grad():
        assert float(mse(module.net, x, y)) == opt.best_fitness
    # the diversity the callback logged is the spread of the population it saw
    for _, row, pop in monitor.rows:
        assert row["population_diversity"] == pytest.approx(mean_distance_to_centroid(pop),
                                                            rel=1e-5)
    # and what the logger wrote is what the callback logged, step by step
    with open(os.path.join(logger.log_dir, "metrics.csv")) as f:
        logged = [r for r in csv.DictReader(f) if r.get("best_fitness")]
    assert [int(r["step"]) for r in logged] == [s for s, _, _ in monitor.rows]
    for r, (_, row, _) in zip(logged, monitor.rows):
        assert float(r["best_fitness"]) == row["best_fitness"]
        assert float(r["population_diversity"]) == row["population_diversity"]
    assert float(trainer.callback_metrics["train_loss"]) == pytest.approx(module.step_results[-1])


def test_lightning_checkpoint_resume_is_bit_identical(tmp_path):
    """A Lightning checkpoint holds the BFO state (population, RNG counter,
    histories): 2 epochs, save, resume to 4 give the bits of 4 in one go."""
    import lightning.pytorch as pl

    warnings.filterwarnings("ignore")
    x, y = tiny_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=len(x))

    def trainer(epochs):
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                          enable_progress_bar=False, enable_model_summary=False,
                          enable_checkpointing=False, default_root_dir=str(tmp_path))

    full, _ = _lightning_module("BFO")
    trainer(4).fit(full, loader)
    part, _ = _lightning_module("BFO")
    t = trainer(2)
    t.fit(part, loader)
    t.save_checkpoint(tmp_path / "mid.ckpt")
    resumed, _ = _lightning_module("BFO")
    t = trainer(4)
    t.fit(resumed, loader, ckpt_path=str(tmp_path / "mid.ckpt"))
    assert resumed.step_results == full.step_results[2:]
    assert all(torch.equal(a, b) for a, b in zip(full.parameters(), resumed.parameters()))
    assert t.optimizers[0].fitness_history == full.trainer.optimizers[0].fitness_history
    assert torch.equal(t.optimizers[0].population, full.trainer.optimizers[0].population)


# ------------------------------------------------------------- Hugging Face


def _tiny_bert_task(n=32, seq=8):
    """A tiny randomly initialised BERT classifier (no download) and a fixed
    task: is token 1 in the sequence."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=16, max_position_embeddings=seq, num_labels=2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 16, (n, seq), generator=g)
    ids[: n // 2, 3] = 1
    labels = (ids == 1).any(1).long()
    data = [{"input_ids": i, "attention_mask": torch.ones(seq, dtype=torch.long), "labels": l}
            for i, l in zip(ids, labels)]
    return model, data


def test_hf_trainer_subclass_with_hybrid_bfo(tmp_path):
    from transformers import Trainer, TrainingArguments

    class BFOTrainer(Trainer):
        """create_optimizer returns HybridBFO; training_step builds the closure
        (forward, loss.backward()) the step runs with. The Trainer itself calls
        optimizer.step() without arguments after training_step, so a step
        pre-hook (torch.optim.Optimizer.register_step_pre_hook) hands it the
        closure: one BFO step per Trainer step, in the Trainer's own place
        (after gradient clipping and on_pre_optimizer_step, before the
        scheduler and on_optimizer_step)."""

        closure = None

        def create_optimizer(self, model=None):
            if self.optimizer is None:
                self.optimizer = co.HybridBFO((model or self.model).parameters(), seed=0,
                                              gradient_weight=0.5, momentum=0.9, **FAST)
                self.optimizer.register_step_pre_hook(self._pass_closure)
            return self.optimizer

        def _pass_closure(self, optimizer, args, kwargs):
            # args is (optimizer, *step arguments); accelerate calls step(None)
            if (len(args) > 1 and args[1] is not None) or kwargs.get("closure") is not None:
                return None
            return (optimizer, self.closure), {}

        def training_step(self, model, inputs, num_items_in_batch=None):
            model.train()
            inputs = self._prepare_inputs(inputs)

            def closure():
                self.optimizer.zero_grad()
                loss = self.compute_loss(model, inputs)
                loss.backward()
                self.closure_calls += 1
                return loss

            self.closure = closure
            with torch.no_grad():  # the loss the Trainer logs: at the current point
                return self.compute_loss(model, inputs).detach()

    model, data = _tiny_bert_task()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=6,
                             per_device_train_batch_size=len(data), logging_steps=1,
                             report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True)
    trainer = BFOTrainer(model=model, args=args, train_dataset=data)
    trainer.closure_calls = 0
    trainer.train()

    bfo = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate's wrapper
    assert isinstance(bfo, co.HybridBFO)
    assert trainer.closure_calls > 6 * FAST["population_size"]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 6
    # the batch is the whole (shuffled) data set: one objective up to summation order
    assert all(b <= a * (1 + 1e-5) for a, b in zip(losses, losses[1:])), losses
    model.eval()
    batch = {k: torch.stack([d[k] for d in data]) for k in data[0]}
    with torch.no_grad():
        final = float(model(**batch).loss)
    assert final < 0.95 * losses[0], (losses, final)
    assert final == pytest.approx(bfo.best_fitness, rel=1e-5)


# ------------------------------------------------------ torch.distributed


WORLD = 2
DIST_STEPS = 3


def _dist_worker(rank, world, init_file, out_dir):
    """One rank: a BFO with its own seed and its share of the population on
    the common objective, then all ranks agree on the best."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=world)
    try:
        x, y = tiny_data()
        model = tiny_model()  # the same start on every rank
        share = dict(FAST, population_size=16 // world)  # 16 bacteria in all
        opt = co.BFO(model.parameters(), seed=1000 + rank, **share)
        closure = closure_for(opt, model, x, y)
        for _ in range(DIST_STEPS):
            opt.step(closure)
        local_params = flat(model)
        local_best = as_float(opt.best_fitness)

        # everyone learns every rank's best fitness; the lowest wins (ties: lowest rank)
        mine = torch.tensor([local_best], dtype=torch.float64)
        every = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(every, mine)
        every = torch.cat(every)
        winner = int(torch.argmin(every))
        global_best = mine.clone()
        dist.all_reduce(global_best, op=dist.ReduceOp.MIN)
        # the winner's parameters (its best_params, which the step left in the
        # model) go to every rank
        with torch.no_grad():
            for p in model.parameters():
                dist.broadcast(p.data, src=winner)
        final = flat(model)
        gathered = [torch.empty_like(final) for _ in range(world)]
        dist.all_gather(gathered, final)
        with torch.no_grad():
            reevaluated = float(mse(model, x, y))
        torch.save({"local_params": local_params, "local_best": local_best,
                    "best_params": torch.cat([p.reshape(-1) for p in opt.best_params]),
                    "population_shape": tuple(opt.population.shape), "n_evals": opt.n_evals,
                    "every": every, "winner": winner, "global_best": float(global_best),
                    "final": final, "gathered": gathered, "reevaluated": reevaluated},
                   os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()  # no rank tears gloo down while another still uses it
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: torch's gloo threads can
    # abort it ("terminate called without an active exception", about one
    # run in 20 here even after the barrier), which spawn reports as a
    # failed rank although every result is saved.
    os._exit(0)


def test_distributed_population_split_agrees_on_best(tmp_path):
    mp.spawn(_dist_worker, args=(WORLD, str(tmp_path / "rendezvous"), str(tmp_path)),
             nprocs=WORLD, join=True)
    res = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    x, y = tiny_data()
    initial = float(mse(tiny_model(), x, y))

    # the ranks searched differently (own seeds) and each improved on the start
    assert res[0]["local_best"] != res[1]["local_best"]
    assert not torch.equal(res[0]["local_params"], res[1]["local_params"])
    for r in res:
        assert r["population_shape"] == (16 // WORLD, 49)  # each rank holds its share
        assert r["n_evals"] > 0
        assert r["local_best"] < initial
        # per rank, the step left best_params in the model
        assert torch.equal(r["local_params"], r["best_params"])
    winner = min(range(WORLD), key=lambda k: (res[k]["local_best"], k))
    global_best = res[winner]["local_best"]
    for r in res:
        assert r["winner"] == winner
        assert torch.equal(r["every"], torch.tensor([q["local_best"] for q in res],
                                                    dtype=torch.float64))
        assert r["global_best"] == global_best
        # identical parameters everywhere, equal to the winner's best point ...
        assert all(torch.equal(g, r["final"]) for g in r["gathered"])
        assert torch.equal(r["final"], res[winner]["local_params"])
        # ... where the objective is the agreed best fitness
        assert r["reevaluated"] == global_best
    model = tiny_model()
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(res[0]["final"], model.parameters())
        assert float(mse(model, x, y)) == global_best


def _shared_worker(rank, world, init_file, out_dir, cls_name, fail):
    """One rank of a population shared over the group (process_group): the
    ranks start from different models (rank 0's wins), evaluate their share
    of each batch and must end bit-identical to one process alone."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank,
                            world_size=world)
    out = {}
    try:
        x, y = tiny_data()
        model = tiny_model(seed=rank)
        opt = CLASSES[cls_name](model.parameters(), seed=7, process_group=dist.group.WORLD,
                                **FAST, **EXTRA[cls_name])
        calls = [0]
        arm = [None]  # the call at which rank 1's closure raises
        base = closure_for(opt, model, x, y, backward=cls_name == "HybridBFO")

        def closure():
            calls[0] += 1
            if rank == 1 and calls[0] == arm[0]:
                raise KeyError("rank 1's closure failed")
            return base()

        for s in range(DIST_STEPS):
            if fail and s == 1:  # the fail-th call of step 1, then step 1 again
                arm[0] = calls[0] + fail
                before = flat(model)
                try:
                    opt.step(closure)
                except BaseException as e:  # noqa: B036
                    out["raised"] = (type(e).__name__, str(e))
                out["restored"] = torch.equal(flat(model), before)
            opt.step(closure)
        out.update(params=flat(model), best=as_float(opt.best_fitness), n_evals=opt.n_evals,
                   calls=calls[0], history=list(opt.fitness_history))
        torch.save(out, os.path.join(out_dir, f"shared{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    os._exit(0)


@pytest.mark.parametrize("cls_name,fail", [("BFO", 0), ("HybridBFO", 0), ("BFO", 10)])
def test_distributed_shared_population_matches_one_process(tmp_path, cls_name, fail):
    mp.spawn(_shared_worker, args=(WORLD, str(tmp_path / "rendezvous"), str(tmp_path), cls_name,
                                   fail), nprocs=WORLD, join=True)
    res = [torch.load(tmp_path / f"shared{r}.pt", weights_only=False) for r in range(WORLD)]
    # one process, the same seed, rank 0's model, the same steps
    x, y = tiny_data()
    model = tiny_model(seed=0)
    opt = CLASSES[cls_name](model.parameters(), seed=7, **FAST, **EXTRA[cls_name])
    calls = [0]
    base = closure_for(opt, model, x, y, backward=cls_name == "HybridBFO")

    def closure():
        calls[0] += 1
        return base()

    for _ in range(DIST_STEPS):
        opt.step(closure)
    for r in res:
        assert torch.equal(r["params"], flat(model))
        assert r["best"] == as_float(opt.best_fitness)
        assert r["history"] == opt.fitness_history
    if fail:  # rank 1 raised its own error, rank 0 a RuntimeError; both rolled back
        assert res[1]["raised"] == ("KeyError", '"rank 1\'s closure failed"')
        assert res[0]["raised"][0] == "RuntimeError" and "other rank" in res[0]["raised"][1]
        assert res[0]["restored"] and res[1]["restored"]
        # the failed step's evaluations, made on both ranks, count on both
        assert res[0]["n_evals"] == res[1]["n_evals"] > opt.n_evals
        return
    # the work was shared: every evaluation made once, on one rank
    assert res[0]["n_evals"] == res[1]["n_evals"] == opt.n_evals == calls[0]
    assert res[0]["calls"] + res[1]["calls"] == calls[0]
    assert min(r["calls"] for r in res) >= 0.4 * calls[0]


# ------------------------------------------------------------ bf16 autocast


@pytest.mark.parametrize("loss_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("cls_name", ["BFO", "HybridBFO"])
def test_bf16_autocast_inside_closure(cls_name, loss_dtype):
    x, y = tiny_data()
    model = tiny_model()
    opt = CLASSES[cls_name](model.parameters(), seed=5, **FAST)

    def bf16_loss():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
            assert out.dtype == torch.bfloat16  # the matmuls ran in bf16
            return ((out.to(loss_dtype) - y.to(loss_dtype)) ** 2).mean()

    def closure():
        opt.zero_grad()
        loss = bf16_loss()
        assert loss.dtype == loss_dtype
        loss.backward()
        return loss

    with torch.no_grad():
        initial = float(bf16_loss())
    best = []
    for _ in range(6):
        opt.step(closure)
        best.append(as_float(opt.best_fitness))
    assert all(b1 <= b0 for b0, b1 in zip(best, best[1:])), best
    assert best[-1] < initial, (initial, best)
    # float32 master weights and float32 gradients throughout
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32
               for p in model.parameters())
    # the best fitness is the autocast objective at the parameters the step left
    with torch.no_grad():
        assert float(bf16_loss()) == best[-1]
    # and the full-precision loss fell as well
    with torch.no_grad():
        assert float(mse(model, x, y)) < float(mse(tiny_model(), x, y))


# ------------------------------------------------ hyperparameter schedule


class BFOScheduler:
    """The users' guide's scheduler, written the torch way: a schedule
    function of the step count whose values go into param_groups (a torch
    optimizer reads its hyperparameters from there, not from .defaults)."""

    def __init__(self, optimizer, schedule_fn):
        self.optimizer, self.schedule_fn, self.epoch = optimizer, schedule_fn, 0

    def step(self):
        self.epoch += 1
        for group in self.optimizer.param_groups:
            group.update(self.schedule_fn(self.epoch))


def nearest_previous(points, start):
    """For each point from index start on, the distance to the nearest point
    evaluated before it."""
    pts = torch.stack(points).double()
    d = torch.cdist(pts, pts)
    return torch.stack([d[i, :i].min() for i in range(start, len(pts))])


def test_schedule_of_step_size_max_and_elimination_prob_takes_effect():
    """Passino's classic loop with a constant step C: every tumble and swim
    moves a bacterium by exactly C from a point evaluated before, and an
    elimination-dispersal re-places it uniformly in the domain. The closure
    records every point it is evaluated at, so the geometry of the search
    shows the step_size_max and elimination_prob of each step."""
    x, y = tiny_data()
    model = tiny_model()
    opt = co.BFO(model.parameters(), variant="classic", step_schedule="constant",
                 step_size_max=0.2, step_size_min=1e-3, elimination_prob=0.0,
                 population_size=8, chemotaxis_steps=3, swim_length=2, reproduction_steps=1,
                 elimination_steps=2, domain_bounds=(-4.0, 4.0), seed=4)
    plan = {1: dict(step_size_max=0.2, elimination_prob=0.0),
            2: dict(step_size_max=0.02, elimination_prob=0.0),
            3: dict(step_size_max=0.02, elimination_prob=1.0),
            4: dict(step_size_max=0.05, elimination_prob=0.0)}
    sched = BFOScheduler(opt, lambda epoch: plan[epoch])
    points = []

    def closure():
        points.append(flat(model).clone())
        return mse(model, x, y)

    opt.step(closure)  # the initial population is spread over the whole domain
    best = [opt.best_fitness]
    for epoch in range(1, 5):
        sched.step()
        start = len(points)
        opt.step(closure)
        best.append(opt.best_fitness)
        c, ped = plan[epoch]["step_size_max"], plan[epoch]["elimination_prob"]
        assert opt.param_groups[0]["step_size_max"] == c
        assert opt.stats["elimination_prob"] == ped
        near = nearest_previous(points, start)
        far = near > 1.0  # dispersed points: uniform in [-4, 4]^49, ~16 away
        moves = near[~far]
        # float32 parameters: positions are rounded to float32 when evaluated
        assert float(moves.max()) <= c + 1e-5, (epoch, float(moves.max()), c)
        assert float(moves.median()) == pytest.approx(c, abs=1e-5), (epoch, c)
        if ped == 0.0:
            assert int(far.sum()) == 0, epoch
        else:  # every bacterium dispersed at each of the 2 elimination events
            assert int(far.sum()) == 2 * 8, epoch
    # the schedule changed how the search moves, never the best-so-far invariant
    assert all(b1 <= b0 for b0, b1 in zip(best, best[1:])), best
    with torch.no_grad():
        assert float(mse(model, x, y)) == opt.best_fitness


# ------------------------------------------------------------- TensorBoard


def test_tensorboard_logging_reads_back(tmp_path, monkeypatch):
    # TensorBoard's own TensorFlow-free mode (its no_tensorflow build): the
    # event file is read with tensorboard's stub instead of importing the
    # installed TensorFlow, which alone takes longer than this whole file.
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf",
                        types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter
    import numpy as np

    class MonitoredBFO(co.AdaptiveBFO):
        """The users' guide pattern: a subclass whose step logs the loss, the
        best fitness, the diversity and the population to TensorBoard."""

        def __init__(self, *args, writer, **kwargs):
            super().__init__(*args, **kwargs)
            self.writer, self.step_count, self.logged = writer, 0, []

        def step(self, closure):
            loss = super().step(closure)
            row = (as_float(loss), as_float(self.best_fitness), as_float(self._compute_diversity()),
                   self.population.detach().clone())
            self.writer.add_scalar("Loss/train", row[0], self.step_count)
            self.writer.add_scalar("BFO/best_fitness", row[1], self.step_count)
            self.writer.add_scalar("BFO/population_diversity", row[2], self.step_count)
            self.writer.add_histogram("BFO/population", row[3].flatten(), self.step_count)
            self.logged.append(row)
            self.step_count += 1
            return loss

    x, y = tiny_data()
    model = tiny_model()
    writer = SummaryWriter(str(tmp_path / "runs"))
    opt = MonitoredBFO(model.parameters(), writer=writer, seed=9, adaptation_rate=0.1, **FAST,
                       **EXTRA["AdaptiveBFO"])
    closure = closure_for(opt, model, x, y)
    for _ in range(6):
        opt.step(closure)
    writer.close()

    ea = EventAccumulator(str(tmp_path / "runs"), size_guidance={"scalars": 0, "histograms": 0})
    ea.Reload()
    tags = ("Loss/train", "BFO/best_fitness", "BFO/population_diversity")
    assert set(tags) <= set(ea.Tags()["scalars"])
    for col, tag in enumerate(tags):
        events = ea.Scalars(tag)
        assert [e.step for e in events] == list(range(6))
        # scalars are stored as float32
        assert [e.value for e in events] == [float(np.float32(r[col])) for r in opt.logged], tag
    hists = ea.Histograms("BFO/population")
    assert [h.step for h in hists] == list(range(6))
    for h, row in zip(hists, opt.logged):
        pop = row[3].double()
        hv = h.histogram_value
        assert hv.num == pop.numel()
        assert hv.min == float(pop.min()) and hv.max == float(pop.max())
        assert hv.sum == pytest.approx(float(pop.sum()), rel=1e-9, abs=1e-9)
    best = [r[1] for r in opt.logged]
    assert all(b1 <= b0 for b0, b1 in zip(best, best[1:])) and best[-1] < best[0], best
    # the logged diversity is the spread of the logged population
    for r in opt.logged:
        assert r[2] == pytest.approx(mean_distance_to_centroid(r[3]), rel=1e-5)
