"""Data-parallel training (MirroredStrategy) on two logical CPU devices, in a fresh process
(logical devices must be configured before TensorFlow initialises)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from bioner_mtl.training.spec.config import RunConfig, TrainConfig
from bioner_mtl.training.fit.trainer import Trainer
run = RunConfig(main="Ex-PTM", vector_dim=8, vector_corpora="run", devel_limit=30, test_limit=30,
                train_fraction=0.1, model_options={"filters": 4, "hidden": 8, "dropout": 0.0},
                train=TrainConfig(optimizer="sgd", learning_rate=0.5, batch_size=8, steps=4,
                                  eval_every=4))
single = Trainer(run, progress=False)
double = Trainer(run, progress=False, devices=["/cpu:0", "/cpu:1"])
double.model.set_weights(single.model.get_weights())
task = single.tasks["Ex-PTM"].train
longest = int(np.argmax(task.lengths))
inputs, tags = task.batch(np.array([longest] * 4))  # equal halves: mean of means = mean
losses = [float(t.train_step("Ex-PTM", inputs, tags)) for t in (single, double)]
diff = max(float(np.abs(a - b).max())
           for a, b in zip(single.model.get_weights(), double.model.get_weights()))
record = double.fit()
print(json.dumps({"replicas": double.strategy.num_replicas_in_sync, "losses": losses,
                  "diff": diff, "steps": record.steps}))
"""


def test_two_replicas_take_the_same_step_as_one_device(bioner_cache):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "BIONER_CACHE": str(bioner_cache)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True,
                          text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert abs(result["losses"][0] - result["losses"][1]) < 1e-5
    assert result["diff"] < 1e-5  # identical weights after one step, within float error
    assert result["steps"] == 4


def test_asking_for_more_gpus_than_exist_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # none, on any machine
    from bioner_mtl.experiments import train
    from bioner_mtl.training.cli import run

    assert run(train.main, ["--main", "Ex-PTM", "--gpus", "4", "--steps", "1",
                            "--out", str(tmp_path)]) == 2
    assert "--gpus 4: 0 GPU(s) visible" in capsys.readouterr().err  # before anything trains
