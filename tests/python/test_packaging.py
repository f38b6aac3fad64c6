"""The package as users get it from a release: an sdist built from this
tree, a wheel built by pip from that sdist (compiling libctrain with CMake
through scikit-build-core), the wheel installed into an empty directory and
imported from there by a fresh interpreter that cannot see the source tree
or the test build's library."""
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CHECK = r"""
import os, sys
import numpy as np
import ctrain, ctrain.numpy
assert ctrain.__file__.startswith(sys.argv[1]), ctrain.__file__
w = np.ones(3, np.float32)
opt = ctrain.numpy.SGD([w], lr=0.5)
opt.step([np.ones(3, np.float32)])
assert np.array_equal(w, np.full(3, 0.5, np.float32)), w
print("ok", ctrain.version())
"""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    name = run([sys.executable, "-c", "import sys; from scikit_build_core.build import "
                "build_sdist; print(build_sdist(sys.argv[1]))", str(out)], cwd=ROOT).strip()
    sdist = out / name.splitlines()[-1]
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
         "-w", str(out), str(sdist)], cwd=str(out))
    wheels = list(out.glob("ctrain-*.whl"))
    assert len(wheels) == 1, wheels
    return sdist, wheels[0]


def test_sdist_holds_the_sources_and_nothing_built(dist):
    sdist, _ = dist
    with tarfile.open(sdist) as t:
        names = [n.split("/", 1)[1] for n in t.getnames() if "/" in n]
    for need in ("CMakeLists.txt", "pyproject.toml", "include/ctrain/optim.h",
                 "src/optim/optim.c", "python/ctrain/optim.py", "python/ctrain/_lib.py"):
        assert need in names, need
    assert not [n for n in names if n.startswith("build") or n.endswith(".so")]


def test_wheel_from_the_sdist_installs_and_runs(dist, tmp_path):
    _, wheel = dist
    assert "py3-none" in wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "ctrain/libctrain.so" in names and "ctrain/optim.py" in names
    target = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("CTRAIN_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    out = run([sys.executable, "-c", CHECK, str(target)], cwd=str(tmp_path), env=env)
    assert out.startswith("ok ")
