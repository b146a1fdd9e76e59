import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

SEND = """
from fineweb.celery import app
app.send_task("accounts.record_heartbeat", args=("default",), queue="default")
"""


def test_the_embedded_broker_keeps_its_exchange_tables_under_the_data_folder(tmp_path):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(FINEWEB_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))

    subprocess.run([sys.executable, "-c", SEND], cwd=workdir, env=env, check=True, timeout=120)

    assert (tmp_path / "data" / "broker" / "control" / "default.exchange").is_file()
    assert list((tmp_path / "data" / "broker" / "queue").iterdir()), "the message is queued"
    assert not (workdir / "control").exists()
