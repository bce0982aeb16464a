"""Plain CMake cross-compiles runtime_c and a converted model for Cortex-M with the
project's toolchain file (runtime_c/cmake/arm-none-eabi.cmake)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from pyconvert.convert import load, lower_graph, write_outputs

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("cpu,arch", [("cortex-m4", "armv7e-m"), ("cortex-m0", "armv6s-m")])
def test_cmake_cross_build(tmp_path, cpu, arch):
    for tool in ("cmake", "arm-none-eabi-gcc", "arm-none-eabi-objdump"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (bash .ci/setup --test installs it)")
    model = write_outputs(lower_graph(load("logic_mlp")), tmp_path / "logic", "logic_mlp")
    build = tmp_path / "build"
    configure = subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(build),
         f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'runtime_c/cmake/arm-none-eabi.cmake'}",
         f"-DMT_CPU={cpu}", f"-DMT_MODEL_DIR={model}"], capture_output=True, text=True)
    assert configure.returncode == 0, configure.stderr
    result = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    info = subprocess.run(["arm-none-eabi-objdump", "-f", str(build / "libmt_model.a")],
                          capture_output=True, text=True).stdout
    assert f"architecture: {arch}" in info
    assert (build / "libmt.a").is_file()
