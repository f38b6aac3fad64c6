"""ctrain.optim inside the tools people train with: torch.amp (GradScaler,
bf16 autocast on CPU), PyTorch Lightning (fit, checkpoint, resume) and the
Hugging Face Trainer (a tiny randomly initialised model from a config)."""
import warnings

import pytest
import torch

import ctrain.optim as co
from conftest import assert_models_close, batch, mlp


def test_grad_scaler_bf16_autocast_matches_torch():
    """Scaled, unscaled, inf checked, one step skipped by the scaler: the
    same as torch.optim.AdamW under the same scaler."""
    x, y = batch()
    runs = []
    for make in (torch.optim.AdamW, co.AdamW):
        model = mlp()
        opt = make(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
        scales = []
        for i in range(30):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = ((model(x) - y) ** 2).mean()
            scaler.scale(loss).backward()
            if i == 7:
                model[0].weight.grad[0, 0] = float("inf")  # this step must be skipped
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        runs.append((model, opt, scales))
    (mr, orf, sr), (mc, oc, sc) = runs
    assert sc == sr and sr[7] < sr[6]
    assert_models_close(mc, mr, "after 30 steps")
    assert float(oc.state[mc[0].weight]["step"]) == float(orf.state[mr[0].weight]["step"]) == 29


lightning = pytest.importorskip("lightning")


class LitMLP(lightning.LightningModule):
    def __init__(self, opt_name="AdamW"):
        super().__init__()
        self.net = mlp()
        self.opt_name = opt_name
        self.losses = []

    def training_step(self, b, i):
        x, y = b
        loss = ((self.net(x) - y) ** 2).mean()
        self.losses.append(float(loss))
        return loss

    def configure_optimizers(self):
        opt = getattr(co, self.opt_name)(self.net.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _loader():
    x, y = batch(n=64)
    ds = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False)


def _trainer(tmp_path, epochs):
    return lightning.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             enable_checkpointing=False, default_root_dir=str(tmp_path))


def test_lightning_fit_checkpoint_resume(tmp_path):
    warnings.filterwarnings("ignore")
    full = LitMLP()
    _trainer(tmp_path, 4).fit(full, _loader())
    assert sum(full.losses[-8:]) < sum(full.losses[:8])  # last epoch vs first
    assert isinstance(full.trainer.optimizers[0], co.AdamW)
    assert full.trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0] == 1e-2 * 0.5 ** 3

    part = LitMLP()
    t = _trainer(tmp_path, 2)
    t.fit(part, _loader())
    ckpt = tmp_path / "mid.ckpt"
    t.save_checkpoint(ckpt)
    ck = torch.load(ckpt, weights_only=False)
    assert sorted(ck["optimizer_states"][0]["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]

    resumed = LitMLP()
    _trainer(tmp_path, 4).fit(resumed, _loader(), ckpt_path=str(ckpt))
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_lightning_checkpoint_moves_to_torch_optimizer(tmp_path):
    """A Lightning checkpoint written with ctrain.optim.AdamW resumes with
    torch.optim.AdamW (and so the other way) to the same weights."""
    warnings.filterwarnings("ignore")

    class TorchLit(LitMLP):
        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.net.parameters(), lr=1e-2)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    full = TorchLit()
    _trainer(tmp_path, 3).fit(full, _loader())
    part = LitMLP()
    t = _trainer(tmp_path, 2)
    t.fit(part, _loader())
    t.save_checkpoint(tmp_path / "c.ckpt")
    resumed = TorchLit()
    _trainer(tmp_path, 3).fit(resumed, _loader(), ckpt_path=str(tmp_path / "c.ckpt"))
    for (n, a), b in zip(full.named_parameters(), resumed.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


transformers = pytest.importorskip("transformers")


def test_hf_trainer_with_ctrain_optimizer(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(cfg)
    g = torch.Generator().manual_seed(0)
    # a learnable sequence task: the next token is the current one plus one
    starts = torch.randint(0, 64, (64, 1), generator=g)
    seqs = (starts + torch.arange(16)) % 64
    data = [{"input_ids": s, "labels": s.clone()} for s in seqs]
    opt = co.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 5))
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=40, per_device_train_batch_size=8,
                             logging_steps=5, report_to=[], use_cpu=True, save_strategy="no",
                             disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, optimizers=(opt, sched))
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) >= 4
    assert losses[-1] < 0.5 * losses[0], losses
    assert trainer.optimizer is opt or getattr(trainer.optimizer, "optimizer", None) is opt
