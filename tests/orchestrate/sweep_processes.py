"""A `sweeper` command run as its own process, and a SIGKILL of it with every process it started
(Ray's head, raylet, trial workers): what a killed driver or a lost machine leaves behind."""

import os
import subprocess
import sys

import psutil


def sweeper(*args, env=None, **popen):
    """`python -m sweeper ARGS --num-cpus 2` in a new session, output in its stdout pipe."""
    env = {key: value for key, value in (env or os.environ).items() if key != "RAY_ADDRESS"}
    return subprocess.Popen(
        [sys.executable, "-m", "sweeper", *args, "--num-cpus", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True, **popen,
    )


def kill_everything(driver):
    """SIGKILL the driver and every process it started."""
    try:
        processes = [psutil.Process(driver.pid), *psutil.Process(driver.pid).children(recursive=True)]
    except psutil.NoSuchProcess:  # it had ended: the caller's assertion says why
        processes = []
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    driver.communicate()
    psutil.wait_procs(processes, timeout=30)
