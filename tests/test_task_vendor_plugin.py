"""`TaskVendorPlugin`: one object holds a media vendor's provider and task hooks."""

from __future__ import annotations

import types

from relayport import hookimpl
from relayport.model import (
    MediaKind,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskStatus,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.plugins import load_plugins
from relayport.provider import Deployment, ProviderSpec
from relayport.tasks.vendor_plugin import TaskHooks, TaskVendorPlugin

SPEC = ProviderSpec(name="tv-vendor", base_url="https://tv.example", key_env=("TV_KEY",),
                    capabilities=frozenset({"video_generation"}))
seen: list[str] = []


def submit(dep: Deployment, request: MediaRequest) -> UpstreamRequest:
    seen.append(f"submit {request.prompt}")
    return UpstreamRequest("POST", dep.url("/jobs"), {}, b"{}")


def parse_submit(dep: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    return SubmittedTask("job-1", TaskUpdate(TaskStatus.QUEUED))


def poll(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("GET", dep.url(f"/jobs/{task.vendor_task_id}"), {})


def parse_poll(dep: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    return TaskUpdate(TaskStatus.RUNNING)


def test_hooks_forward_and_optional_ones_defer_to_the_core():
    plugin = TaskVendorPlugin(SPEC, submit=submit, parse_submit=parse_submit, poll=poll, parse_poll=parse_poll)
    plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": "tv"}, extra_plugins={"tv": plugin})
    entry = plugins.provider("tv-vendor")
    assert entry is not None and entry.plugin == "tv"
    dep = Deployment("d", entry.spec, "m", SPEC.base_url, None, entry.hooks)
    request = MediaRequest(MediaKind.VIDEO, "m", prompt="waves")
    up = entry.hooks.relayport_submit_task(deployment=dep, request=request)
    assert up.url == "https://tv.example/jobs" and seen[-1] == "submit waves"
    task = TaskRecord("t", "tv-vendor", "m", "job-1", TaskStatus.QUEUED, request, 0, 0, 1)
    assert entry.hooks.relayport_poll_request(deployment=dep, task=task).url == "https://tv.example/jobs/job-1"
    # No cancel: None, so the core answers 501; no content hook: the core's plain GET of the URL.
    assert entry.hooks.relayport_cancel_request(deployment=dep, task=task) is None
    info = next(i for i in plugins.plugins if i.name == "tv")
    assert {"relayport_submit_task", "relayport_parse_poll", "relayport_register_providers"} <= set(info.hooks)


def test_a_given_cancel_is_used():
    def cancel(dep: Deployment, task: TaskRecord) -> UpstreamRequest:
        return UpstreamRequest("POST", dep.url(f"/jobs/{task.vendor_task_id}/cancel"), {})

    plugin = TaskVendorPlugin(SPEC, submit=submit, parse_submit=parse_submit, poll=poll, parse_poll=parse_poll,
                              cancel=cancel)
    entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": "tv"}, extra_plugins={"tv": plugin}).provider("tv-vendor")
    assert entry is not None
    dep = Deployment("d", entry.spec, "m", SPEC.base_url, None, entry.hooks)
    task = TaskRecord("t", "tv-vendor", "m", "job-9", TaskStatus.RUNNING, MediaRequest(MediaKind.VIDEO, "m"), 0, 0, 1)
    assert entry.hooks.relayport_cancel_request(deployment=dep, task=task).url == "https://tv.example/jobs/job-9/cancel"


def test_task_hooks_bound_to_module_names_serve_a_module_plugin():
    # A chat+media package stays a module plugin: its task hooks are TaskHooks methods bound to
    # module names, beside its own module functions (here the provider registration).
    module = types.ModuleType("tv_module")
    tasks = TaskHooks(submit=submit, parse_submit=parse_submit, poll=poll, parse_poll=parse_poll)
    module.relayport_submit_task = tasks.relayport_submit_task
    module.relayport_poll_request = tasks.relayport_poll_request

    @hookimpl
    def relayport_register_providers(register):
        register(SPEC)

    module.relayport_register_providers = relayport_register_providers
    plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": "tvm"}, extra_plugins={"tvm": module})
    entry = plugins.provider("tv-vendor")
    assert entry is not None and entry.plugin == "tvm"
    dep = Deployment("d", entry.spec, "m", SPEC.base_url, None, entry.hooks)
    up = entry.hooks.relayport_submit_task(deployment=dep, request=MediaRequest(MediaKind.VIDEO, "m", prompt="tide"))
    assert up.url == "https://tv.example/jobs" and seen[-1] == "submit tide"
    info = next(i for i in plugins.plugins if i.name == "tvm")
    # Only the names the module binds are its hooks: no cancel, so the core's 501 stands.
    assert set(info.hooks) == {"relayport_register_providers", "relayport_submit_task", "relayport_poll_request"}
