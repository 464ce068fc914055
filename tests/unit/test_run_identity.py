"""Run identity and status on a real MLflow store (SQLite): resume, suffix, adoption, FAILED /
KILLED / FINISHED; bounded reachability check; credential redaction."""

import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from alseg import runs, tracking
from alseg.secrets import MASK, redact

CONFIG = {"name": "a", "seed": 0, "acquisition": {"policy": "entropy"}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (creating one takes seconds); tests use their own
    experiment names."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield MlflowClient(uri)


def test_same_name_same_config_resumes_and_changed_config_gets_a_suffix(store) -> None:
    first = runs.claim_run("exp", "e", CONFIG, tags={})
    again = runs.claim_run("exp", "e", {**CONFIG, "name": "renamed"}, tags={})  # name not hashed
    changed = {**CONFIG, "acquisition": {"policy": "random"}}
    other = runs.claim_run("exp", "e", changed, tags={})
    other_again = runs.claim_run("exp", "e", changed, tags={})
    third = runs.claim_run("exp", "e", {**CONFIG, "seed": 1}, tags={})
    assert (first.name, first.resumed) == ("exp", False)
    assert (again.name, again.run_id, again.resumed) == ("exp", first.run_id, True)
    assert (other.name, other.resumed) == ("exp-2", False) and other.run_id != first.run_id
    assert (other_again.name, other_again.run_id) == ("exp-2", other.run_id)
    assert third.name == "exp-3"
    params = store.get_run(other.run_id).data.params
    assert params["acquisition.policy"] == "random"  # the first run's records are untouched
    assert store.get_run(first.run_id).data.params["acquisition.policy"] == "entropy"


def test_a_parent_run_made_before_run_identity_is_adopted(store) -> None:
    legacy = tracking.parent_run("old", "legacy", config=CONFIG)
    claim = runs.claim_run("old", "legacy", CONFIG, tags={})
    assert (claim.name, claim.run_id, claim.resumed) == ("old", legacy, True)
    assert store.get_run(legacy).data.tags[runs.CONFIG_TAG] == runs.config_identity(CONFIG)


@pytest.mark.parametrize(
    "error, status", [(None, "FINISHED"), (RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")]
)
def test_parent_run_ends_finished_failed_or_killed(store, error, status) -> None:
    claim = runs.claim_run("s", f"status-{status}", CONFIG, tags={})
    assert store.get_run(claim.run_id).info.status == "RUNNING"
    with pytest.raises(error) if error else _nothing():
        with runs.run_status([claim.run_id]):
            if error:
                raise error("stop")
    assert store.get_run(claim.run_id).info.status == status
    resumed = runs.claim_run("s", f"status-{status}", CONFIG, tags={})  # rerun: RUNNING again
    assert store.get_run(resumed.run_id).info.status == "RUNNING"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_unreachable_tracking_server_fails_fast_in_one_line() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(runs.TrackingUnavailable) as err:
        runs.check_reachable(f"http://user:hunter22@127.0.0.1:{port}")
    assert time.monotonic() - start < 30
    message = str(err.value)
    assert "\n" not in message and "hunter22" not in message
    assert message.startswith(f"MLFLOW_TRACKING_URI=http://user:{MASK}@127.0.0.1:{port}:")


def test_redact_masks_credentials_from_the_environment_and_urls() -> None:
    env = {
        "AWS_SECRET_ACCESS_KEY": "s3cr3t/Key+1",
        "AWS_ACCESS_KEY_ID": "AKIA0001",
        "KFP_TOKEN": "x",
    }
    text = "key AKIA0001 secret s3cr3t/Key+1 token x in https://bob:pw0rd@host/p and s3://b/k"
    assert redact(text, env) == (
        f"key {MASK} secret {MASK} token x in https://bob:{MASK}@host/p and s3://b/k"
    )  # values under 4 characters ("x") are left alone: they would mask ordinary words


def test_sigterm_becomes_an_interrupt_so_the_run_ends_killed() -> None:
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), runs.terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
