"""device=cuda runs the same code path (skipped without a GPU)."""

import pytest
import torch


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_train_and_eval_on_cuda(run_mode, tmp_path):
    run_mode("mode=collect")
    for key in ("de", "tpe"):
        run_mode("mode=train", f"models={key}", "device=cuda")
    run_mode("mode=eval", "models=[de,tpe]", "device=cuda")
    assert len(list((tmp_path / "outputs/smoke/cartpole/toy_stable/metrics").glob("*.csv"))) == 2


def test_cuda_request_without_a_gpu_is_a_clear_error(run_mode):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from trajmbrl.errors import TrajmbrlError

    run_mode("mode=collect")
    with pytest.raises(TrajmbrlError, match="device=cuda but no CUDA device"):
        run_mode("mode=train", "models=d", "device=cuda")
