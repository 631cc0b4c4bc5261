"""Settings shared by every service (``shared.settings.PlatformSettings``)."""

from __future__ import annotations

import pytest

from shared.settings import PlatformSettings

POOL = "us-east-1_AbCdEf"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment; start every test from an empty one."""
    for name in PlatformSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_cognito_urls_are_derived_from_the_pool() -> None:
    """In AWS, issuer and JWKS URL both live on the regional cognito-idp host."""
    settings = PlatformSettings(aws_region="eu-west-1", cognito_user_pool_id=POOL)

    assert settings.cognito_issuer == f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
    assert settings.cognito_jwks_url == (
        f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}/.well-known/jwks.json")


def test_jwks_comes_from_the_emulator_but_issuer_stays_aws() -> None:
    """Locally the JWKS is served by the emulator, while tokens still name the AWS issuer."""
    settings = PlatformSettings(aws_endpoint_url="http://127.0.0.1:4566/",
                                cognito_user_pool_id=POOL)

    assert settings.cognito_jwks_url == f"http://127.0.0.1:4566/{POOL}/.well-known/jwks.json"
    assert settings.cognito_issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"


def test_explicit_cognito_urls_win() -> None:
    """Set issuer and JWKS URL are kept as given."""
    settings = PlatformSettings(cognito_user_pool_id=POOL, cognito_issuer="https://issuer",
                                cognito_jwks_url="https://keys/jwks.json")

    assert (settings.cognito_issuer, settings.cognito_jwks_url) == (
        "https://issuer", "https://keys/jwks.json")


def test_no_pool_means_no_cognito_urls() -> None:
    """Without a user pool nothing is derived (a service without auth)."""
    settings = PlatformSettings()

    assert settings.cognito_issuer == settings.cognito_jwks_url == ""


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables (upper-case field names) configure the process."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL)
    monkeypatch.setenv("REGATTA_NAME_PREFIX", "ci-")
    monkeypatch.setenv("WORKER_STOP_TIMEOUT", "7.5")

    settings = PlatformSettings.load()

    assert settings.cognito_jwks_url.startswith("http://127.0.0.1:5000/")
    assert settings.resource_name("recipes") == "ci-recipes"
    assert settings.worker_stop_timeout == 7.5


def test_resource_name_uses_the_prefix() -> None:
    """Physical names are the prefix plus the logical topology name."""
    assert PlatformSettings().resource_name("trend-ticks.fifo") == "regatta-trend-ticks.fifo"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("WORKER_WAIT_TIME_SECONDS", "soon", "WORKER_WAIT_TIME_SECONDS"),
        ("WORKER_STOP_TIMEOUT", "", "WORKER_STOP_TIMEOUT"),
    ],
)
def test_malformed_setting_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variable: str, value: str, named: str,
) -> None:
    """A malformed setting exits with status 2 and one stderr line naming it."""
    monkeypatch.setenv(variable, value)

    with pytest.raises(SystemExit) as exit_info:
        PlatformSettings.load()

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith("error: invalid settings for PlatformSettings:")
    assert named in err
    assert "Traceback" not in err


def test_settings_are_frozen() -> None:
    """Settings are validated once at start and cannot drift afterwards."""
    settings = PlatformSettings()

    with pytest.raises(ValueError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_public_base_url_is_an_origin_without_a_trailing_slash(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """PUBLIC_BASE_URL (Terraform's https://<CloudFront or custom domain>) is kept without
    its trailing slash, so links are base + path; empty by default (derive from the
    request); anything but an http(s) URL with a host stops the process."""
    assert PlatformSettings().public_base_url == ""
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://d111.cloudfront.net/")
    assert PlatformSettings().public_base_url == "https://d111.cloudfront.net"
    for bad in ("d111.cloudfront.net", "ftp://example.com", "https://", "https://x.com/?a=1"):
        monkeypatch.setenv("PUBLIC_BASE_URL", bad)
        with pytest.raises(ValueError, match="not an http"):
            PlatformSettings()
