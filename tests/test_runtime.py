import os
import subprocess
import sys

import pytest

from absnb import runtime

# A child process started as Dask's nanny starts its workers, counting the page faults of tensors
# allocated and freed in a thread (Dask runs tasks in threads), before and after keep_freed_memory.
CHILD = """
import resource, threading, torch
from absnb import runtime

def faults():
    def churn():
        for _ in range(200):
            torch.ones(1 << 20).sum()  # 4 MB, freed at once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
print(faults(), runtime.keep_freed_memory(), faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_keep_freed_memory_stops_the_page_faults_of_dasks_trim_threshold():
    env = os.environ | {"MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    before, applied, after = int(out[0]), out[1], int(out[2])
    assert applied == "True"
    assert before > 200 * 500  # each 4 MB tensor faults its ~1,000 pages in again
    assert after < before / 20


def test_keep_freed_memory_is_applied_in_every_attack_task(monkeypatch):
    from absnb.attacks import plan

    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(1) or True)
    with pytest.raises(AttributeError):
        plan._run_task(None, {}, 1)  # fails after the call: no task to run
    assert calls
