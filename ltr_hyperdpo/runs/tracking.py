"""Experiment tracking as training callbacks: TensorBoard and MLflow (``logging:`` in a run config).

Per epoch of every stage, each numeric value of the epoch's log record is logged as ``<stage>/<key>`` at step =
the stage's epoch: the loss, the validation metric (``val_hypervolume``, ``val_ndcg@10``), the best so far, the
learning rate, throughput. A list-valued record entry (the validation NDCG ``[weights, objectives]`` of a one-model
method) becomes one scalar per weight and objective: ``<stage>/val_ndcg@10/<objective>/w<i>``. At the end of a run,
the resolved plan is logged as parameters (dotted keys) and the front (table, JSON, picture, page) as artifacts.

Neither backend is imported unless used: ``pip install ltr-hyperdpo[tracking]`` (tensorboard, mlflow-skinny).
A tracker that cannot write (a bad URI, a missing package) fails before training starts, naming the config key.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .callbacks import Callback, CallbackEnv

#: the environment switch MLflow 3 asks for before it writes a local ``mlruns/`` file store
MLFLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def scalars(record: dict, names: list[str] | None = None) -> Iterator[tuple[str, float]]:
    """``(key, value)`` for every finite number of a log record; ``[weights, objectives]`` lists flattened as
    ``key/<objective>/w<i>`` (``names``: the objectives; ``o<j>`` without them)."""
    for key, v in record.items():
        if isinstance(v, bool) or key in ("epoch", "stage"):
            continue
        if isinstance(v, (int, float)):
            if math.isfinite(v):
                yield key, float(v)
        elif isinstance(v, list) and v and all(isinstance(row, list) for row in v):
            for i, row in enumerate(v):
                for j, x in enumerate(row):
                    if isinstance(x, (int, float)) and math.isfinite(x):
                        name = names[j] if names and j < len(names) else f"o{j}"
                        yield f"{key}/{name}/w{i}", float(x)


def flat_params(d: dict, prefix: str = "") -> dict[str, str]:
    """A nested mapping as ``{dotted.key: text}`` (lists and values as compact JSON, at most 500 characters: the
    MLflow limit)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flat_params(v, key + "."))
        else:
            out[key] = (v if isinstance(v, str) else json.dumps(v, default=str))[:500]
    return out


class Tracker(Callback):
    """Logs every epoch's record (after it is complete: ``order`` 35, between the log file and the checkpoint), then
    the plan and the front when the run ends (:meth:`finish`)."""

    order = 35

    def __init__(self, objective_names: list[str] | None = None):
        self.objective_names = objective_names

    def on_epoch_end(self, env: CallbackEnv) -> None:
        if not env.main:
            return
        stage = env.stage.name
        step = int(env.record.get("epoch", env.epoch + 1))
        self.log_scalars({f"{stage}/{k}": v for k, v in scalars(env.record, self.objective_names)}, step)

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def finish(self, plan: dict, artifacts: list[Path]) -> None:
        """Log the resolved plan and the front's files, then close."""
        raise NotImplementedError


class TensorBoardLog(Tracker):
    """``torch.utils.tensorboard.SummaryWriter`` into ``log_dir``: scalars per epoch; the plan as text; the front's
    table as text and its picture as an image."""

    def __init__(self, log_dir: str | os.PathLike, objective_names: list[str] | None = None):
        super().__init__(objective_names)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ConfigError(f"logging.tensorboard: needs the tensorboard package ({e}); "
                              f"pip install 'ltr-hyperdpo[tracking]'") from None
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def finish(self, plan: dict, artifacts: list[Path]) -> None:
        self.writer.add_text("plan", "```\n" + json.dumps(plan, indent=2, default=str) + "\n```")
        for path in artifacts:
            if path.suffix == ".csv":
                self.writer.add_text(f"front/{path.name}", "```\n" + path.read_text() + "\n```")
            elif path.suffix == ".png":
                import matplotlib.image as mpimg

                self.writer.add_image(f"front/{path.stem}", mpimg.imread(str(path))[..., :3], dataformats="HWC")
        self.writer.flush()
        self.writer.close()


class MLflowLog(Tracker):
    """An MLflow run in ``uri`` (default: a local ``mlruns/`` file store in the working directory), experiment
    ``experiment``: metrics per epoch, the plan as parameters, the front's files as artifacts under ``front/``."""

    def __init__(self, uri: str | None, experiment: str = "ltr_hyperdpo", run_name: str | None = None,
                 objective_names: list[str] | None = None):
        super().__init__(objective_names)
        try:
            import mlflow
        except ImportError as e:
            raise ConfigError(f"logging.mlflow: needs the mlflow package ({e}); "
                              f"pip install 'ltr-hyperdpo[tracking]'") from None
        self.uri = uri or Path("mlruns").resolve().as_uri()
        if self.uri.startswith("file:") or "://" not in self.uri:
            # MLflow 3 keeps the local file store in maintenance mode and refuses it unless asked: asked here
            os.environ.setdefault(MLFLOW_FILE_STORE_ENV, "true")
        try:
            self.client = mlflow.tracking.MlflowClient(self.uri)
            exp = self.client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(exp_id, run_name=run_name).info.run_id
        except Exception as e:  # noqa: BLE001 - any store error is the URI's: one line naming the key
            raise ConfigError(f"logging.mlflow: cannot open {self.uri!r}: {e}") from None

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        ts = int(1000 * time.time())
        metrics = [Metric(k.replace("@", "_at_"), v, ts, step) for k, v in values.items()]
        for s in range(0, len(metrics), 1000):  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=metrics[s:s + 1000])

    def finish(self, plan: dict, artifacts: list[Path]) -> None:
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in flat_params(plan).items()]
        for s in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[s:s + 100])
        for path in artifacts:
            self.client.log_artifact(self.run_id, str(path), artifact_path="front")
        self.client.set_terminated(self.run_id)


def trackers(logging: Any, run_dir: Path, objective_names: list[str] | None = None) -> list[Tracker]:
    """The trackers a ``logging`` config section asks for (``tensorboard: DIR``, ``mlflow: URI``); relative
    TensorBoard directories are taken inside the run directory."""
    out: list[Tracker] = []
    if logging is None:
        return out
    if logging.tensorboard:
        d = Path(logging.tensorboard)
        out.append(TensorBoardLog(d if d.is_absolute() else run_dir / d, objective_names))
    if logging.mlflow:
        uri = None if logging.mlflow == "default" else str(logging.mlflow)
        out.append(MLflowLog(uri, logging.mlflow_experiment, run_dir.name, objective_names))
    return out
