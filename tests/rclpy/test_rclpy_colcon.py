"""`colcon build` and `colcon build --symlink-install` of this repository in a fresh workspace, with colcon from
the registry (the ros extra): the executable, launch file, parameters and message files land where ros2 run and
launch_ros look for them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rclpy_harness import ROOT, private_domain, ros_env

PACKAGE = "vatex_ros"


def _source_files() -> list[str]:
    """The repository's files as a clone has them (tracked and new, not ignored: no venv, no build output)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60).stdout
    return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def workspace_source(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("colcon_ws") / "src" / PACKAGE
    for name in _source_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    return src


def _colcon(workspace: Path, *extra: str) -> subprocess.CompletedProcess:
    colcon = Path(sys.executable).parent / "colcon"
    env = ros_env(private_domain())
    env["PATH"] = f"{colcon.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(colcon), "build", "--base-paths", "src", "--event-handlers", "console_cohesion+",
                           *extra], cwd=workspace, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("symlink", [False, True], ids=["install", "symlink-install"])
def test_colcon_build_installs_the_package(workspace_source, symlink):
    workspace = workspace_source.parents[1]
    for folder in ("build", "install", "log"):  # each build from scratch
        shutil.rmtree(workspace / folder, ignore_errors=True)
    done = _colcon(workspace, *(["--symlink-install"] if symlink else []))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Summary: 1 package finished" in done.stdout  # one package: msg/ and the rest hold no other

    prefix = workspace / "install" / PACKAGE
    share = prefix / "share" / PACKAGE
    executable = prefix / "lib" / PACKAGE / "vatex_node"
    installed = [executable, share / "package.xml", share / "launch" / "vatex.launch.py",
                 share / "config" / "vatex.yaml", share / "msg" / "vision_msgs" / "Detection2DArray.msg",
                 prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE]
    missing = [str(path) for path in installed if not path.exists()]
    assert not missing, missing
    assert os.access(executable, os.X_OK)
    sources = [workspace_source / "scripts" / "vatex_node", workspace_source / "package.xml",
               workspace_source / "launch" / "vatex.launch.py", workspace_source / "config" / "vatex.yaml"]
    for path, source in zip(installed, sources):
        assert path.is_symlink() is symlink, path
        if symlink:
            assert path.resolve() == source.resolve(), f"{path} -> {path.resolve()}"
    python_package = next(prefix.glob("lib/python*/site-packages"))
    if symlink:  # develop mode: the package is imported from the source tree through the build folder
        links = list((workspace / "build" / PACKAGE).glob("vatex_ros")) + list(python_package.glob("*.egg-link"))
        assert links and (workspace / "build" / PACKAGE / "vatex_ros").resolve() == (workspace_source / "vatex_ros")
    else:
        assert (python_package / PACKAGE / "rclpy" / "node.py").is_file()
