"""Plugin discovery and the per-provider hook relays.

Plugins come from the `relayport` entry-point group. A plugin that fails to import is
reported by name and skipped so one broken package never keeps the gateway down.
`RELAYPORT_LOAD_PLUGINS` (comma-separated entry-point names) loads only those;
`RELAYPORT_DISABLE_PLUGINS` skips the named ones.

Per-call hooks are dispatched through a small PluginManager per provider-owning plugin
(that plugin, the plugins that register no provider, and the builtins), built once at
start-up: a call then costs the same with one plugin installed or thirty. The relays' hooks
are called directly (`_direct_call`), as pluggy would call them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from relayport import builtins, hookspecs
from relayport.provider import ProviderSpec, Surface

if TYPE_CHECKING:
    from relayport.webservices import WebService

log = logging.getLogger("relayport.plugins")


@attrs.define
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    providers: list[str] = attrs.field(factory=list)


@attrs.define
class PluginFailure:
    name: str
    error: str


@attrs.define
class ProviderEntry:
    spec: ProviderSpec
    plugin: str
    hooks: Any  # the provider's own pluggy HookRelay


@attrs.define
class PluginSet:
    """What loaded: the main manager, providers with their hook relays, surfaces, failures."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo]
    failures: list[PluginFailure]
    providers: dict[str, ProviderEntry]
    surfaces: list[Surface]
    services: list[WebService] = attrs.field(factory=list)

    def provider(self, name: str) -> ProviderEntry | None:
        return self.providers.get(name)


def _names(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    env: Mapping[str, str] | None = None, extra_plugins: Mapping[str, object] | None = None
) -> PluginSet:
    """Load builtins and entry-point plugins, honouring the allow/block environment variables.

    :param extra_plugins: plugin objects to register by name as if found by entry point
        (tests and embedders use this).
    """
    environ = os.environ if env is None else env
    allow = _names(environ.get("RELAYPORT_LOAD_PLUGINS"))
    block = _names(environ.get("RELAYPORT_DISABLE_PLUGINS")) or set()
    pm = new_manager()
    pm.register(builtins, name="relayport.builtins")
    failures: list[PluginFailure] = []
    dists: dict[str, tuple[str | None, str | None]] = {}

    def wanted(name: str) -> bool:
        return name not in block and (allow is None or name in allow)

    for ep in entry_points(group=hookspecs.PROJECT):
        if not wanted(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the gateway down
            log.error("plugin %r failed to load and was skipped: %s: %s", ep.name, type(exc).__name__, exc)
            failures.append(PluginFailure(ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        dist = ep.dist
        dists[ep.name] = (dist.metadata["Name"] if dist else None, dist.version if dist else None)
    for name, plugin in (extra_plugins or {}).items():
        if wanted(name) and not pm.has_plugin(name):
            pm.register(plugin, name=name)
    pm.check_pending()

    providers, owners = _collect_providers(pm, failures)
    _build_relays(pm, providers, owners)
    surfaces = _collect_surfaces(pm, failures)
    services = _collect(pm.hook.relayport_register_services, failures, "services")
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is builtins:
            continue
        dist_name, ver = dists.get(name, (None, None))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or ())
        infos.append(
            PluginInfo(name, dist_name, ver, hooks,
                       sorted(p for p, e in providers.items() if e.plugin == name))
        )
    return PluginSet(pm, sorted(infos, key=lambda i: i.name), failures, providers, surfaces, services)


def _args(impl: Any, **kwargs: Any) -> dict[str, Any]:
    # pluggy lets an implementation take a subset of the spec's arguments.
    return {k: v for k, v in kwargs.items() if k in impl.argnames}


def _collect_providers(
    pm: pluggy.PluginManager, failures: list[PluginFailure]
) -> tuple[dict[str, ProviderEntry], dict[str, object]]:
    providers: dict[str, ProviderEntry] = {}
    owners: dict[str, object] = {}
    # Call each implementation on its own so every ProviderSpec is tied to the plugin that
    # registered it: that plugin's hooks serve the provider's calls.
    for impl in pm.hook.relayport_register_providers.get_hookimpls():
        specs: list[ProviderSpec] = []
        try:
            impl.function(**_args(impl, register=specs.append))
        except Exception as exc:
            log.error("plugin %r failed to register providers: %s", impl.plugin_name, exc)
            failures.append(PluginFailure(impl.plugin_name, f"{type(exc).__name__}: {exc}"))
            continue
        for spec in specs:
            if spec.name in providers:
                log.warning("provider %r from %r ignored: already registered by %r",
                            spec.name, impl.plugin_name, providers[spec.name].plugin)
                continue
            providers[spec.name] = ProviderEntry(spec, impl.plugin_name, None)
            owners[spec.name] = impl.plugin
    return providers, owners


def _build_relays(
    pm: pluggy.PluginManager, providers: dict[str, ProviderEntry], owners: dict[str, object]
) -> None:
    owner_plugins = {id(p) for p in owners.values()}
    global_plugins = [
        (name, p) for name, p in pm.list_name_plugin()
        if p is not builtins and id(p) not in owner_plugins
        and any(h.name in hookspecs.PER_CALL_HOOKS for h in pm.get_hookcallers(p) or ())
    ]
    relays: dict[int, Any] = {}
    for name, entry in providers.items():
        owner = owners[name]
        if id(owner) not in relays:
            sub = new_manager()
            sub.register(builtins, name="relayport.builtins")
            for gname, gplugin in global_plugins:
                sub.register(gplugin, name=gname)
            if owner is not builtins:
                sub.register(owner, name=entry.plugin)
            relay = _direct_relay(sub.hook)
            own = {h.name for h in sub.get_hookcallers(owner) or ()} if owner is not builtins else set()
            # Read by the builtin passthrough: the owner serves OpenAI clients its own way.
            relay.owner_translates = not own.isdisjoint(_OWN_PARSING)
            relays[id(owner)] = relay
        entry.hooks = relays[id(owner)]


_OWN_PARSING = frozenset({"relayport_passthrough", "relayport_parse_response", "relayport_stream_parser"})


def _direct_relay(hook: pluggy.HookRelay) -> Any:
    """The per-call hooks of one relay as plain callables, same calling convention."""
    return SimpleNamespace(**{name: _direct_call(getattr(hook, name)) for name in hookspecs.PER_CALL_HOOKS})


def _direct_call(caller: pluggy.HookCaller) -> Callable[..., Any]:
    """pluggy's first-result call without its per-call set-up (argument checks, result lists,
    wrapper bookkeeping: half the cost of a translated call's three hook calls).

    Same order and result: tryfirst and newest implementations first, the first non-None
    answer wins, exceptions propagate. Hooks with wrappers, or with implementations taking
    keyword arguments, keep pluggy's own call.
    """
    impls = caller.get_hookimpls()
    if any(i.hookwrapper or i.wrapper or i.kwargnames for i in impls):
        return caller
    order = tuple((i.function, tuple(i.argnames)) for i in reversed(impls))

    def call(**kwargs: Any) -> Any:
        for function, names in order:
            result = function(*[kwargs[n] for n in names])
            if result is not None:
                return result
        return None

    call.get_hookimpls = caller.get_hookimpls  # type: ignore[attr-defined]  # introspection
    return call


def _collect_surfaces(pm: pluggy.PluginManager, failures: list[PluginFailure]) -> list[Surface]:
    return _collect(pm.hook.relayport_register_surfaces, failures, "surfaces")


def _collect(hook: Any, failures: list[PluginFailure], what: str) -> list[Any]:
    """What every plugin's registration hook registers; a failing plugin is recorded, not fatal."""
    found: list[Any] = []
    for impl in hook.get_hookimpls():
        try:
            impl.function(**_args(impl, register=found.append))
        except Exception as exc:
            log.error("plugin %r failed to register %s: %s", impl.plugin_name, what, exc)
            failures.append(PluginFailure(impl.plugin_name, f"{type(exc).__name__}: {exc}"))
    return found
