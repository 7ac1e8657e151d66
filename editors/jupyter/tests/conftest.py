import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
REPO = HERE.parents[2]


@pytest.fixture(scope="session")
def binary():
    cand = os.environ.get("XLCHAT_BIN") or str(REPO / ".build" / "debug" / "xlchat")
    if not os.path.exists(cand):
        pytest.fail(f"xlchat binary not found at {cand} (set XLCHAT_BIN)")
    return os.path.abspath(cand)


@pytest.fixture()
def data_env(tmp_path):
    env = {"XLCHAT_DATA_DIR": str(tmp_path / "data")}
    return env


@pytest.fixture()
def sales_csv(tmp_path):
    p = tmp_path / "sales.csv"
    p.write_text("region,product,units,price\nNorth,Apples,10,1.5\nSouth,Pears,20,2.25\n"
                 "North,Plums,5,3\nEast,Apples,7,1.5\n")
    return p


@pytest.fixture()
def corpus():
    d = REPO.parent / "shared" / "corpus" / "files"
    if not d.is_dir():
        pytest.skip(f"corpus not found at {d}")
    return d


@pytest.fixture(scope="session")
def fake_ollama():
    script = REPO / "editors" / "testing" / "fake_ollama.py"
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("OLLAMA_HOST="), line
    yield line.split("=", 1)[1]
    proc.stdin.close()
    proc.terminate()
    proc.wait()


@pytest.fixture()
def chat_env(data_env, fake_ollama):
    return dict(data_env, OLLAMA_HOST=fake_ollama, XLCHAT_MODEL="fake:latest")
