"""Settings read from environment variables with pydantic-settings, for the operator and the
trainer: nothing but the variables counts (no .env file, no secrets directory), they can be
read from any mapping (os.environ by default), and a bad value is one ValueError that names
each variable, the value it had and what it allows."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

S = TypeVar("S", bound="EnvSettings")
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("llmtrain_environ", default=None)
"""The mapping `read_settings` was given, for the sources of the settings it builds."""


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ
    (as its .env file source is over the file's variables)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            key if self.case_sensitive else key.lower(): value
            for key, value in self._environ.items()
            if not (self.env_ignore_empty and value == "")
        }


class EnvSettings(BaseSettings):
    """Settings from environment variables only: the keyword arguments, then the variables
    (those of `read_settings`'s mapping while it builds them), then the defaults."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        return (init_settings, env_settings if environ is None else _MappingSource(settings_cls, environ))


def read_settings(settings_cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """`settings_cls` from the variables of `environ` (of os.environ when None, and then only);
    a bad value is a ValueError from `explain`."""
    token = _ENVIRON.set(environ)
    try:
        return settings_cls()
    except ValidationError as error:
        raise ValueError(explain(settings_cls, error)) from None
    finally:
        _ENVIRON.reset(token)


def variable(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable of a field: its alias, else the prefix and its name in capitals."""
    alias = settings_cls.model_fields[field].validation_alias
    if isinstance(alias, str):
        return alias
    return f"{settings_cls.model_config.get('env_prefix') or ''}{field}".upper()


def explain(settings_cls: type[BaseSettings], error: ValidationError) -> str:
    """One line, `VARIABLE='value': what is allowed` for each bad value."""
    fields = {name: name for name in settings_cls.model_fields}
    fields.update(
        {
            info.validation_alias: name
            for name, info in settings_cls.model_fields.items()
            if isinstance(info.validation_alias, str)
        }
    )
    problems = []
    for item in error.errors(include_url=False):
        field = fields.get(str(item["loc"][0])) if item["loc"] else None
        name = variable(settings_cls, field) if field else "the environment"
        problems.append(f"{name}={item['input']!r}: {item['msg']}")
    return "; ".join(problems)
