"""One pluggy plugin object for a vendor that only runs media tasks.

Each media vendor package used to repeat the same five hook functions, each forwarding its
arguments to the package's wire module. `TaskVendorPlugin` holds those functions once: a package
gives its `ProviderSpec` and its wire functions, and its entry point names the object
(``vidu = "relayport_vidu:plugin"``). pluggy registers any object, so the contract is unchanged.

A package that also serves chat stays a module plugin (its chat hooks are module functions); it
builds a `TaskHooks` and binds its hooks to module names, which pluggy reads like any function.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from relayport import hookimpl
from relayport.model import (
    GatewayError,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.provider import Deployment, ProviderSpec

# Submit and poll may answer None, as their hooks may: "not a task this vendor runs".
Submit = Callable[[Deployment, MediaRequest], UpstreamRequest | None]
ParseSubmit = Callable[[Deployment, MediaRequest, UpstreamResponse], SubmittedTask]
Poll = Callable[[Deployment, TaskRecord], UpstreamRequest | None]
ParsePoll = Callable[[Deployment, TaskRecord, UpstreamResponse], TaskUpdate]
Cancel = Callable[[Deployment, TaskRecord], UpstreamRequest | None]
MapError = Callable[[Deployment, UpstreamResponse], GatewayError | None]
Content = Callable[[Deployment, TaskRecord, int], UpstreamRequest | None]
UrlsToFetch = Callable[[Deployment, MediaRequest], list[str] | None]


@attrs.frozen(kw_only=True)
class TaskHooks:
    """The task hooks of a vendor, forwarded to its wire functions.

    `cancel`, `content` and `urls_to_fetch` are optional: without them the core's answers stand
    (501 on cancel, a plain GET of the result URL, no client URL downloaded for the vendor).
    `provider` is for a package that registers more providers than the one running tasks: the
    core calls a package's hooks for each provider it registered, and these answer None for
    deployments of the others (without it they answer for every provider of the package).
    """

    submit: Submit
    parse_submit: ParseSubmit
    poll: Poll
    parse_poll: ParsePoll
    cancel: Cancel | None = None
    content: Content | None = None
    urls_to_fetch: UrlsToFetch | None = None
    provider: str | None = None

    def _serves(self, deployment: Deployment) -> bool:
        return self.provider is None or deployment.provider.name == self.provider

    @hookimpl
    def relayport_submit_task(self, deployment: Deployment, request: MediaRequest) -> UpstreamRequest | None:
        return self.submit(deployment, request) if self._serves(deployment) else None

    @hookimpl
    def relayport_parse_submit(self, deployment: Deployment, request: MediaRequest,
                               response: UpstreamResponse) -> SubmittedTask | None:
        return self.parse_submit(deployment, request, response) if self._serves(deployment) else None

    @hookimpl
    def relayport_poll_request(self, deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
        return self.poll(deployment, task) if self._serves(deployment) else None

    @hookimpl
    def relayport_parse_poll(self, deployment: Deployment, task: TaskRecord,
                             response: UpstreamResponse) -> TaskUpdate | None:
        return self.parse_poll(deployment, task, response) if self._serves(deployment) else None

    @hookimpl
    def relayport_cancel_request(self, deployment: Deployment, task: TaskRecord) -> UpstreamRequest | None:
        if self.cancel is None or not self._serves(deployment):
            return None
        return self.cancel(deployment, task)

    @hookimpl
    def relayport_content_request(self, deployment: Deployment, task: TaskRecord, index: int) -> UpstreamRequest | None:
        if self.content is None or not self._serves(deployment):
            return None
        return self.content(deployment, task, index)

    @hookimpl
    def relayport_media_urls_to_fetch(self, deployment: Deployment, request: MediaRequest) -> list[str] | None:
        if self.urls_to_fetch is None or not self._serves(deployment):
            return None
        return self.urls_to_fetch(deployment, request)


@attrs.frozen
class TaskVendorPlugin(TaskHooks):
    """The provider and task hooks of a media-only vendor: the package's whole plugin.

    Without `map_error` the core's generic error mapping stands.
    """

    spec: ProviderSpec
    map_error: MapError | None = None

    @hookimpl
    def relayport_register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(self.spec)

    @hookimpl
    def relayport_map_error(self, deployment: Deployment, response: UpstreamResponse) -> GatewayError | None:
        return self.map_error(deployment, response) if self.map_error is not None else None
