"""The loop's behaviours as callbacks: events in order, early stopping, stopping from a callback, checkpoints before
user callbacks, and ``train(callbacks=...)`` reaching every stage."""
import pytest
import torch

from ltr_hyperdpo.runs.callbacks import Callback, CallbackEnv
from ltr_hyperdpo.runs.loop import Stage, run_stage
from ltr_hyperdpo.utils.checkpoint import load_latest


def stage(metrics, epochs=6, patience=2):
    """A linear model on fixed data; the validation metric of epoch e is ``metrics[e]``."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    seen = {"epoch": 0}

    def val():
        m = metrics[seen["epoch"]]
        seen["epoch"] += 1
        return {"val": m}

    return Stage(name="toy", stage_id=1, model=model, loss_fn=lambda net, b, gen: ((net(b[0]) - b[1]) ** 2).mean(),
                 batches=lambda e: [(x[:4], y[:4]), (x[4:], y[4:])], epochs=epochs, lr=0.1, n_batches=2,
                 val_fn=val, val_key="val", patience=patience)


class Recorder(Callback):
    def __init__(self, order=50, stop_at=None, raise_at=None, checkpoint=None):
        self.order, self.stop_at, self.raise_at, self.checkpoint = order, stop_at, raise_at, checkpoint
        self.events: list = []

    def on_stage_begin(self, env: CallbackEnv) -> None:
        self.events.append("begin")

    def on_epoch_begin(self, env: CallbackEnv) -> None:
        self.events.append(f"epoch{env.epoch}")

    def on_batch_end(self, env: CallbackEnv) -> None:
        self.events.append("batch")

    def on_epoch_end(self, env: CallbackEnv) -> None:
        self.events.append(("end", env.record["epoch"], env.record.get("best"), env.improved))
        if self.checkpoint is not None:  # order 50: the epoch's checkpoint is already written
            assert load_latest(self.checkpoint)["state"]["epoch"] == env.record["epoch"]
        if env.record["epoch"] == self.stop_at:
            env.state.done = True
        if env.record["epoch"] == self.raise_at:
            raise KeyboardInterrupt

    def on_stage_end(self, env: CallbackEnv) -> None:
        self.events.append("stage_end")

    def close(self, env: CallbackEnv) -> None:
        self.events.append("close")


def test_events_arrive_in_order_after_early_stopping_and_the_checkpoint(tmp_path):
    ck = tmp_path / "ck.pt"
    rec = Recorder(checkpoint=ck)
    st = run_stage(stage([0.1, 0.3, 0.2, 0.25, 0.9, 0.9]), ck, 0, progress=False, callbacks=[rec])
    # epochs 3 and 4 do not beat 0.3: patience 2 stops after epoch 4
    assert st.epoch == 4 and st.best_epoch == 1 and st.best_metric == 0.3
    assert rec.events[:5] == ["begin", "epoch0", "batch", "batch", ("end", 1, 0.1, True)]
    assert rec.events[5:10] == ["epoch1", "batch", "batch", ("end", 2, 0.3, True), "epoch2"]
    ends = [e for e in rec.events if isinstance(e, tuple)]
    assert ends[2:] == [("end", 3, 0.3, False), ("end", 4, 0.3, False)]
    assert rec.events[-2:] == ["stage_end", "close"]


def test_early_stopping_restores_the_best_weights(tmp_path):
    s = stage([0.5, 0.1, 0.1, 0.1], epochs=4, patience=5)
    snaps = []

    class Snap(Callback):
        order = 15  # after early stopping has seen the epoch

        def on_epoch_end(self, env):
            snaps.append({k: v.clone() for k, v in env.model.state_dict().items()})

    run_stage(s, tmp_path / "ck.pt", 0, progress=False, callbacks=[Snap()])
    for k, v in s.model.state_dict().items():
        assert torch.equal(v, snaps[0][k])  # epoch 1 was the best
    assert not torch.equal(snaps[0]["weight"], snaps[-1]["weight"])


def test_a_callback_stops_training_and_an_error_still_closes_every_callback(tmp_path):
    rec = Recorder(stop_at=2)
    st = run_stage(stage([0.1 * i for i in range(1, 7)]), tmp_path / "a.pt", 0, progress=False, callbacks=[rec])
    assert st.epoch == 2 and st.done and load_latest(tmp_path / "a.pt")["state"]["epoch"] == 2
    boom = Recorder(raise_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_stage(stage([0.1 * i for i in range(1, 7)]), tmp_path / "b.pt", 0, progress=False, callbacks=[boom])
    assert boom.events[-1] == "close" and "stage_end" not in boom.events
    assert load_latest(tmp_path / "b.pt")["state"]["epoch"] == 3  # the epoch was saved before the callback raised


@pytest.mark.slow
def test_train_passes_callbacks_to_every_stage(synth, tmp_path):
    from conftest import run_config

    from ltr_hyperdpo.training import RunConfig, train

    stages = []

    class Stages(Callback):
        def on_stage_begin(self, env):
            stages.append(env.stage.name)

    cfg = run_config(synth, model={"hidden": [8]}, reference={"epochs": 1}, hyperdpo={"epochs": 1},
                     method={"name": "dpo_ls", "params": {"members": 2}})
    train(RunConfig.from_dict(cfg), tmp_path / "r", callbacks=[Stages()])
    assert stages == ["reference", "dpo_ls[0]", "dpo_ls[1]"]
