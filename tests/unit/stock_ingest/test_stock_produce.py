"""The tick producer process (services.stock_ingest.produce), and `regatta` running it as the
stock-ingest service's declared tool: refusals before anything is sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.stock_ingest import produce

ROOT = Path(__file__).resolve().parents[3]
NO_CREDENTIAL = {"STOCK_PRODUCER_CLIENT_ID": "", "STOCK_PRODUCER_CLIENT_SECRET": "",
                 "COGNITO_TOKEN_URL": "http://127.0.0.1:1/oauth2/token"}


def test_without_a_credential_it_names_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """GIVEN no machine credential WHEN producing or printing a token THEN exit 1 naming the
    variables, nothing on stdout."""
    for key, value in NO_CREDENTIAL.items():
        monkeypatch.setenv(key, value)
    for argv in (["--url", "http://127.0.0.1:1", "--count", "1"], ["--print-token"]):
        assert produce.main(argv) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert "STOCK_PRODUCER_CLIENT_ID" in err and "STOCK_PRODUCER_CLIENT_SECRET" in err


def test_without_a_url_or_symbols_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(produce.URL_VAR, raising=False)
    assert produce.main(["--count", "1"]) == 1
    assert "pass --url or set REGATTA_SERVICE_URL" in capsys.readouterr().err
    assert produce.main(["--url", "http://127.0.0.1:1", "--symbols", " , "]) == 1
    assert "--symbols names no symbol" in capsys.readouterr().err


def test_regatta_runs_the_services_tool_with_its_arguments() -> None:
    """`regatta machine-token` and `regatta produce ARGS` run the service's command
    (infra/services.yaml, tools) and pass its exit status and messages through."""
    env = {**os.environ, **NO_CREDENTIAL}
    token = subprocess.run([sys.executable, "-m", "devkit.cli", "machine-token"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert token.returncode == 1, token.stderr
    assert "STOCK_PRODUCER_CLIENT_ID" in token.stderr
    helped = subprocess.run([sys.executable, "-m", "devkit.cli", "produce", "--help"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert helped.returncode == 0 and "usage: regatta produce" in helped.stdout
