"""Parameter blobs: the host tools and the C runtime write and read the same bytes."""

import numpy as np
import pytest

from pyconvert.cli import main
from pyconvert.convert import plan_for_training, read_meta, write_outputs
from pyconvert.host.model_runner import HostModel, ModelError
from pyconvert.params_blob import BlobError, from_blob, to_blob
from pyconvert.train_plan import TrainConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("persist") / "dc"
    tp = plan_for_training("digits_cnn", TrainConfig(optimizer="sgd", lr=0.1, batch=2,
                                                     trainable="last:2"))
    write_outputs(tp.infer, out, "digits_cnn", train=tp)
    host = HostModel(out)
    rng = np.random.default_rng(0)
    for _ in range(3):
        host.train_step(rng.random((2, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 2))
    return out, host


def test_python_and_c_write_the_same_blob(trained):
    out, host = trained
    meta = read_meta(out)
    from pyconvert.params_blob import params_hash
    assert f"#define DIGITS_CNN_PARAMS_HASH {params_hash(meta):#010x}u" in (out / "digits_cnn.h").read_text()
    c_blob = host.export_blob(sequence=5)
    assert to_blob(meta, host.params(), sequence=5) == c_blob
    params, seq = from_blob(meta, c_blob)
    assert seq == 5
    for k, v in host.params().items():
        np.testing.assert_array_equal(params[k], v)


def test_the_runtime_imports_a_host_blob_and_rejects_bad_ones(trained):
    out, host = trained
    meta = read_meta(out)
    wanted = {k: v + 1.0 for k, v in host.params().items()}
    blob = to_blob(meta, wanted, sequence=9)
    before = host.params()
    for bad, status in [(blob[:-1], -13), (b"XTP1" + blob[4:], -10), (blob[:4] + b"\x02" + blob[5:], -11),
                        (blob[:30] + bytes([blob[30] ^ 1]) + blob[31:], -14)]:
        with pytest.raises(ModelError) as err:
            host.import_blob(bad)
        assert err.value.status == status
        for k, v in host.params().items():
            np.testing.assert_array_equal(v, before[k])
        with pytest.raises(BlobError):
            from_blob(meta, bad)
    assert host.import_blob(blob) == 9
    for k, v in host.params().items():
        np.testing.assert_array_equal(v, wanted[k])


def test_a_blob_of_another_model_is_refused(trained, tmp_path):
    out, host = trained
    other = tmp_path / "other"
    tp = plan_for_training("digits_cnn", TrainConfig(batch=2, trainable="last:1"))
    write_outputs(tp.infer, other, "digits_cnn", train=tp)
    blob = HostModel(other).export_blob()
    with pytest.raises(ModelError) as err:
        host.import_blob(blob)
    assert err.value.status == -12
    with pytest.raises(BlobError, match="another model"):
        from_blob(read_meta(out), blob)


def test_cli_params_export_import_round_trip(trained, tmp_path, capsys):
    out, host = trained
    np.savez(tmp_path / "p.npz", **host.params())
    assert main(["params", "export", str(out), str(tmp_path / "p.npz"), "-o", str(tmp_path / "b.bin"),
                 "--sequence", "3"]) == 0
    assert (tmp_path / "b.bin").read_bytes() == host.export_blob(sequence=3)
    assert main(["params", "import", str(out), str(tmp_path / "b.bin"), "-o", str(tmp_path / "q.npz")]) == 0
    q = np.load(tmp_path / "q.npz")
    for k, v in host.params().items():
        np.testing.assert_array_equal(q[k], v)
    (tmp_path / "bad.bin").write_bytes(b"nonsense")
    capsys.readouterr()
    assert main(["params", "import", str(out), str(tmp_path / "bad.bin"), "-o", str(tmp_path / "r.npz")]) == 1
    assert "blob truncated" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()
