"""One place builds the App: agents module, storage from the environment, jobs per place."""

from __future__ import annotations

import pytest

from agents import BackgroundJobRunner, InlineJobRunner, SQSJobRunner
from handlers import _wiring
from handlers._wiring import Settings, build_app, jobs_for


def test_default_module_serves_the_assistant_on_local_echo() -> None:
    app = build_app({"STOWAGE_STORAGE_URL": "memory://"})
    assert list(app.agents) == ["assistant"]
    assert app.get_agent("assistant").model.id == "local/echo"
    assert app.storage.memory is not None
    app.close()


def test_model_and_module_come_from_the_environment() -> None:
    env = {"STOWAGE_STORAGE_URL": "memory://",
           "STOWAGE_AGENTS_MODULE": "tests.handlers.wiring_agents_list"}
    app = build_app(env)
    assert sorted(app.agents) == ["one", "two"]
    assert app.storage.memory is not None


def test_a_module_app_without_storage_gets_the_environments() -> None:
    app = build_app({"STOWAGE_STORAGE_URL": "memory://",
                     "STOWAGE_AGENTS_MODULE": "tests.handlers.wiring_agents"})
    assert list(app.agents) == ["from-app"]
    assert app.storage is not None and app.storage.memory is not None


def test_jobs_follow_the_place() -> None:
    assert isinstance(jobs_for({}), BackgroundJobRunner)
    assert isinstance(jobs_for({"STOWAGE_JOBS": "inline"}), InlineJobRunner)
    sqs = jobs_for({"STOWAGE_JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"})
    assert isinstance(sqs, SQSJobRunner) and sqs.queue_url.endswith("/q")


def test_the_app_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOWAGE_STORAGE_URL", "memory://")
    first = _wiring.get_app()
    assert _wiring.get_app() is first
    _wiring.reset()
    assert _wiring.get_app() is not first


@pytest.mark.parametrize(("env", "message"), [
    ({"STOWAGE_AUTH": "basic"}, "STOWAGE_AUTH"),
    ({"STOWAGE_AUTH": "jwt"}, "STOWAGE_JWT_ISSUER"),
    ({"STOWAGE_MAX_BODY_BYTES": "lots"}, "STOWAGE_MAX_BODY_BYTES"),
    ({"STOWAGE_KEEPALIVE_SECONDS": "-1"}, "STOWAGE_KEEPALIVE_SECONDS"),
])
def test_bad_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_jwt_settings_derive_the_jwks_url() -> None:
    settings = Settings.from_env({"STOWAGE_AUTH": "jwt",
                                  "STOWAGE_JWT_ISSUER": "https://idp.example/pool/"})
    assert settings.jwks_url == "https://idp.example/pool/.well-known/jwks.json"
    assert settings.auth == "jwt" and settings.max_body_bytes == 5 * 1024 * 1024
