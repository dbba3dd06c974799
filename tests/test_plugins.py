"""Plugin discovery: entry points, allow/block lists, broken plugins, dispatch cost."""

from __future__ import annotations

import sys
import textwrap
from types import SimpleNamespace

import httpx
import pluggy
import pytest

from relayport import hookimpl
from relayport.plugins import load_plugins
from relayport.provider import ProviderSpec
from relayport.server.ops_routes import describe_plugins


def test_example_plugin_loads_through_its_entry_point():
    plugins = load_plugins({})
    entry = plugins.provider("echo")
    assert entry is not None and entry.plugin == "echo"
    info = {p.name: p for p in plugins.plugins}["echo"]
    assert info.distribution == "relayport-echo" and info.version == "0.1.0"
    assert "relayport_translate_request" in info.hooks and "relayport_stream_parser" in info.hooks


def test_load_and_disable_lists():
    # "openai-compatible" is the core's own (configured in TOML), present whatever loads.
    assert set(load_plugins({"RELAYPORT_LOAD_PLUGINS": "openai"}).providers) == {"openai", "openai-compatible"}
    both = set(load_plugins({"RELAYPORT_LOAD_PLUGINS": "openai, deepseek"}).providers)
    assert both == {"openai", "deepseek", "openai-compatible"}
    without = load_plugins({"RELAYPORT_DISABLE_PLUGINS": "openai"}).providers
    assert "openai" not in without and "deepseek" in without


@pytest.fixture
def broken_plugin_on_path(tmp_path, monkeypatch):
    """A distribution whose entry point module fails to import, as a bad release would."""
    dist = tmp_path / "relayport_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: relayport-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[relayport]\nbroken = relayport_broken_mod\n")
    (tmp_path / "relayport_broken_mod.py").write_text("raise ImportError('needs libfoo 9')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("relayport_broken_mod", None)


def test_broken_plugin_is_reported_and_skipped(broken_plugin_on_path, relayport_gateway, fake_openai):
    plugins = load_plugins({})
    assert [(f.name, f.error) for f in plugins.failures] == [("broken", "ImportError: needs libfoo 9")]
    assert "openai" in plugins.providers
    gw = relayport_gateway({"models": [{"name": "g", "provider": "openai", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key}]}, env={})
    listed = httpx.get(gw.url + "/-/plugins").json()
    assert {"name": "broken", "error": "ImportError: needs libfoo 9"} in listed["failed"]
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   json={"model": "g", "messages": [{"role": "user", "content": "still up"}]})
    assert r.status_code == 200


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def relayport_translate_requets(self, deployment, request):  # the typo check_pending catches
            return None

    with pytest.raises(pluggy.PluginValidationError, match="relayport_translate_requets"):
        load_plugins({}, extra_plugins={"typo": Typo()})


def _many_providers(n: int) -> dict[str, object]:
    plugins: dict[str, object] = {}
    for i in range(n):
        class P:
            name = f"vendor{i}"

            @hookimpl
            def relayport_register_providers(self, register):
                register(ProviderSpec(name=self.name, base_url=f"https://{self.name}.example"))

            @hookimpl
            def relayport_translate_request(self, deployment, request):
                return None

        plugins[f"vendor{i}"] = P()
    return plugins


def test_dispatch_does_not_grow_with_installed_plugins():
    """A call runs the owning plugin's hooks and the builtins, not all thirty plugins'."""
    one = load_plugins({}, extra_plugins=_many_providers(1))
    thirty = load_plugins({}, extra_plugins=_many_providers(30))
    for plugins in (one, thirty):
        impls = plugins.provider("vendor0").hooks.relayport_translate_request.get_hookimpls()
        assert [i.plugin_name for i in impls] == ["relayport.builtins", "vendor0"]
    assert len(thirty.pm.hook.relayport_translate_request.get_hookimpls()) >= 31


def test_plugin_without_providers_wraps_every_provider():
    """A plugin that registers no provider (logging, policy) sees every provider's calls."""
    seen = []

    class Audit:
        @hookimpl(wrapper=True)
        def relayport_translate_request(self, deployment, request):
            result = yield
            seen.append(deployment.provider.name)
            return result

    plugins = load_plugins({}, extra_plugins={"audit": Audit()})
    for name in ("openai", "deepseek", "echo"):
        names = [i.plugin_name for i in plugins.provider(name).hooks.relayport_translate_request.get_hookimpls()]
        assert "audit" in names


def _ordered_plugins(calls: list[str]) -> dict[str, object]:
    class Owner:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="owned", base_url="https://o.example", key_env=("O_KEY",)))

        @hookimpl
        def relayport_translate_request(self, deployment, request):
            calls.append("owner")
            return None if request == "pass" else "owner"

    class First:  # registers no provider, so it joins every provider's relay
        @hookimpl(tryfirst=True)
        def relayport_translate_request(self, request):  # a subset of the arguments
            calls.append("first")
            return "first" if request == "mine" else None

    return {"owner": Owner(), "first": First()}


def test_relay_calls_follow_pluggy_order_and_first_result():
    """The relays call hook functions directly; the order, the argument subsets and the
    first-non-None rule must stay exactly pluggy's."""
    calls: list[str] = []
    relay = load_plugins({}, extra_plugins=_ordered_plugins(calls)).provider("owned").hooks
    direct = relay.relayport_translate_request
    by_pluggy = direct.get_hookimpls.__self__
    assert not isinstance(direct, pluggy.HookCaller) and isinstance(by_pluggy, pluggy.HookCaller)
    # The builtins run last and answer only for OpenAI-compatible providers.
    deployment = SimpleNamespace(provider=SimpleNamespace(openai_compat=None))
    for request in ("mine", "yours", "pass"):
        for call in (direct, by_pluggy):
            calls.clear()
            result = call(deployment=deployment, request=request)
            assert (result, calls) == {"mine": ("first", ["first"]), "yours": ("owner", ["first", "owner"]),
                                       "pass": (None, ["first", "owner"])}[request], (call, request)


def test_relay_with_a_wrapper_keeps_pluggys_call():
    calls: list[str] = []

    class Wrap:
        @hookimpl(wrapper=True)
        def relayport_translate_request(self, request):
            calls.append("wrap")
            return (yield)

    plugins = load_plugins({}, extra_plugins={**_ordered_plugins(calls), "wrap": Wrap()})
    hook = plugins.provider("owned").hooks.relayport_translate_request
    assert isinstance(hook, pluggy.HookCaller)
    assert hook(deployment=None, request="yours") == "owner" and calls == ["wrap", "first", "owner"]


def test_plugins_listing_shows_no_secrets(relayport_gateway):
    # A marker no variable name holds (Runway's key variable is RUNWAYML_API_SECRET).
    env = {"OPENAI_API_KEY": "sk-openai-s3kr1t-value", "DEEPSEEK_API_KEY": "sk-ds-s3kr1t-value", "RELAYPORT_KEY": "gw-s3kr1t-value"}
    gw = relayport_gateway({"auth": {"keys": ["env:RELAYPORT_KEY"]},
                            "models": [{"name": "x", "provider": "openai", "api_key": "sk-literal-s3kr1t-value"}]}, env=env)
    r = httpx.get(gw.url + "/-/plugins", headers={"Authorization": "Bearer gw-s3kr1t-value"})
    assert r.status_code == 200
    assert "s3kr1t" not in r.text
    info = r.json()
    providers = {p["name"] for plugin in info["plugins"] for p in plugin["providers"]}
    assert {"openai", "deepseek", "echo"} <= providers
    assert "s3kr1t" not in str(describe_plugins(load_plugins(env)))
    assert httpx.get(gw.url + "/-/plugins").status_code == 401


def test_third_party_plugin_source_is_documented():
    """docs/plugins.md walks through the example plugin that the tests install."""
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    assert "examples/relayport-echo" in doc
    assert textwrap.dedent("""[project.entry-points.relayport]""") in doc
