"""W&B mode is decided before wandb.init, and never waits on an unreachable server."""

import time

from ganforge.loggers import has_wandb_credentials, resolve_wandb_mode


def test_wandb_mode_env_wins(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto") == "disabled"


def test_no_credentials_means_offline(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert not has_wandb_credentials()
    assert resolve_wandb_mode("auto") == "offline"
    assert resolve_wandb_mode("online") == "online"  # an explicit mode is taken as given


def test_credentials_but_unreachable_server_is_offline_within_seconds(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "https://127.0.0.1:9")  # nothing listens on port 9
    start = time.monotonic()
    assert resolve_wandb_mode("auto") == "offline"
    assert time.monotonic() - start < 5


def test_netrc_credentials_are_found(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    assert has_wandb_credentials()
