"""Model names -> deployments.

A name resolves, in order, to: the deployments the config lists under it; `provider/model`
for an installed provider whose key is set; the first provider whose model patterns match
and whose key is set. For now the first healthy deployment serves and the others are
fallbacks; a deployment that failed with a retryable error cools down for a while.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Mapping

from relayport.config import Config, ConfigError, ModelConfig
from relayport.model.errors import GatewayError
from relayport.plugins import PluginSet, ProviderEntry
from relayport.provider import Deployment, Timeouts
from relayport.secrets import Secret, resolve_secret
from relayport.upstream import env_proxy

DEFAULT_COOLDOWN = 5.0
_MAX_DYNAMIC = 1024


def _env_key(entry: ProviderEntry, env: Mapping[str, str]) -> Secret | None:
    for name in entry.spec.key_env:
        if env.get(name):
            return Secret(env[name])
    return None


class Router:
    def __init__(self, config: Config, plugins: PluginSet, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env
        self._plugins = plugins
        self._named: dict[str, list[Deployment]] = {}
        self._dynamic: dict[str, list[Deployment]] = {}
        self._cooldown: dict[int, float] = {}
        problems: list[str] = []
        for i, m in enumerate(config.models):
            entry = plugins.provider(m.provider)
            if entry is None:
                installed = ", ".join(sorted(plugins.providers)) or "none"
                problems.append(
                    f"models[{i}] ({m.name!r}): provider {m.provider!r} is not installed "
                    f"(installed providers: {installed})"
                )
                continue
            if not (m.base_url or entry.spec.base_url):
                problems.append(f"models[{i}] ({m.name!r}): provider {m.provider!r} needs base_url")
                continue
            self._named.setdefault(m.name, []).append(self._from_config(m, entry))
        if problems:
            raise ConfigError(f"{config.source}:\n  " + "\n  ".join(problems))

    def _from_config(self, m: ModelConfig, entry: ProviderEntry) -> Deployment:
        key = resolve_secret(m.api_key, dict(self._env)) if m.api_key else _env_key(entry, self._env)
        return Deployment(
            name=m.name,
            provider=entry.spec,
            model=m.model or m.name,
            base_url=m.base_url or entry.spec.base_url,
            api_key=key,
            hooks=entry.hooks,
            proxy=m.proxy or env_proxy(m.base_url or entry.spec.base_url),
            timeouts=m.timeouts,
            options=m.options,
            headers=m.headers,
        )

    def names(self) -> list[tuple[str, Deployment]]:
        """The configured model names, each with its first deployment."""
        return [(name, deps[0]) for name, deps in self._named.items()]

    def deployments(self) -> list[Deployment]:
        """Every deployment made so far, configured and resolved on demand."""
        return [d for deps in (*self._named.values(), *self._dynamic.values()) for d in deps]

    def resolve(self, name: str) -> list[Deployment]:
        """The deployments that may serve `name`, healthy ones first; 404 when none."""
        deps = self._named.get(name) or self._dynamic.get(name) or self._resolve_dynamic(name)
        if len(deps) > 1 and self._cooldown:
            now = time.monotonic()
            deps = sorted(deps, key=lambda d: self._cooldown.get(id(d), 0.0) > now)
        return deps

    def _resolve_dynamic(self, name: str) -> list[Deployment]:
        provider, sep, model = name.partition("/")
        entry = self._plugins.provider(provider) if sep and model else None
        if entry is not None:
            return self._remember(name, entry, model)
        for entry in self._plugins.providers.values():
            if any(fnmatch.fnmatchcase(name, p) for p in entry.spec.model_patterns) and (
                _env_key(entry, self._env) is not None or not entry.spec.key_env
            ):
                return self._remember(name, entry, name)
        raise GatewayError(
            404,
            f"The model '{name}' does not exist or is not served by this gateway.",
            type="invalid_request_error",
            code="model_not_found",
            param="model",
        )

    def _remember(self, name: str, entry: ProviderEntry, model: str) -> list[Deployment]:
        if not entry.spec.base_url:
            raise GatewayError(404, f"The model '{name}' needs provider '{entry.spec.name}', which has "
                               "no default base_url: configure the model in [[models]].",
                               type="invalid_request_error", code="model_not_found", param="model")
        key = _env_key(entry, self._env)
        if key is None and entry.spec.key_env:
            raise GatewayError(
                404,
                f"The model '{name}' needs provider '{entry.spec.name}', which has no key: "
                f"set {' or '.join(entry.spec.key_env)}.",
                type="invalid_request_error",
                code="model_not_found",
                param="model",
            )
        deps = [
            Deployment(name=name, provider=entry.spec, model=model, base_url=entry.spec.base_url,
                       api_key=key, hooks=entry.hooks, timeouts=Timeouts(),
                       proxy=env_proxy(entry.spec.base_url))
        ]
        if len(self._dynamic) < _MAX_DYNAMIC:
            self._dynamic[name] = deps
        return deps

    def cool_down(self, deployment: Deployment, seconds: float | None) -> None:
        self._cooldown[id(deployment)] = time.monotonic() + (seconds or DEFAULT_COOLDOWN)
