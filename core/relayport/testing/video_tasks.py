"""A video vendor plugin's tests driving the gateway's unified video route.

`video_gateway` starts a gateway serving one task vendor (polled every 0.05 s) and returns a
`VideoTasks` that submits, polls to the end, downloads and cancels through it. The checks below
are the ones every task vendor's tests make the same way; what a vendor puts on the wire (paths,
bodies, headers, its error words) stays in that vendor's own tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import httpx

from relayport.testing.servers import GatewayHandle
from relayport.testing.task_fakes import MP4, ExpiringFiles
from relayport.testing.waiting import wait_for

if TYPE_CHECKING:
    import openai

GATEWAY_KEY = "gw-key"
ROUTE = "/v1/videos/generations"
StartGateway = Callable[..., GatewayHandle]


class _RateLimited(Protocol):
    limit_next: int  # how many of the next polls the fake answers with the vendor's 429



@attrs.frozen
class VideoTasks:
    """The unified video route of one running gateway, with the gateway key."""

    gw: GatewayHandle

    @property
    def url(self) -> str:
        return self.gw.url

    def headers(self) -> dict[str, str]:
        return self.gw.headers()

    def post(self, **body: Any) -> httpx.Response:
        return httpx.post(self.url + ROUTE, headers=self.headers(), json=body)

    def get(self, task_id: str, query: str = "") -> dict[str, Any]:
        return httpx.get(f"{self.url}{ROUTE}/{task_id}{query}", headers=self.headers()).json()

    def until(self, task_id: str, status: str) -> dict[str, Any]:
        """The task object once its status is `status` (the background poller moves it)."""
        return wait_for(lambda: (t := self.get(task_id))["status"] == status and t)

    def content(self, task_id: str) -> httpx.Response:
        """`/content` once it answers 200: the gateway copies a result as soon as it is ready."""
        def served() -> httpx.Response | None:
            r = self.download(task_id)
            return r if r.status_code == 200 else None

        response = wait_for(served)
        assert response is not None  # wait_for returns only a true value
        return response

    def download(self, task_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}{ROUTE}/{task_id}/content", headers=self.headers())

    def cancel(self, task_id: str) -> httpx.Response:
        return httpx.delete(f"{self.url}{ROUTE}/{task_id}", headers=self.headers())

    def sdk(self) -> openai.OpenAI:
        import openai  # the SDK is a test dependency of the plugins, not of the kit

        return openai.OpenAI(base_url=self.gw.openai_base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=20)

    def sdk_video(self, **create: Any) -> bytes:
        """`client.videos.create(**create)`, retrieved until completed, then downloaded."""
        client = self.sdk()
        video = client.videos.create(**create)
        # The created video answers in OpenAI's terms, whatever the vendor rounded the length to.
        assert video.status == "queued" and video.seconds == create.get("seconds", video.seconds), video
        deadline = time.time() + 10
        while (video := client.videos.retrieve(video.id)).status != "completed" and time.time() < deadline:
            time.sleep(0.05)
        assert video.status == "completed", video
        return client.videos.download_content(video.id).read()


def video_gateway(start: StartGateway, provider: str, base_url: str, vendor_key: str, models: Iterable[str],
                  **config: Any) -> VideoTasks:
    """A gateway (from the `relayport_gateway` fixture) serving `models` of one task vendor."""
    entry = {"provider": provider, "base_url": base_url, "api_key": vendor_key}
    return VideoTasks(start({
        "auth": {"keys": [GATEWAY_KEY]},
        "models": [{"name": m, **entry} for m in models],
        "tasks": {"poll_intervals": {provider: 0.05}, "jitter": 0.0},
        **config,
    }, env={}))


def check_polls_retried_after_429(tasks: VideoTasks, fake: _RateLimited, **body: Any) -> None:
    """The vendor's 429 on two polls (a `TaskBook`, or a fake with its own `limit_next`): the
    poller waits and asks again until the task succeeds."""
    fake.limit_next = 2
    task = tasks.post(**body).json()
    tasks.until(task["id"], "succeeded")
    assert fake.limit_next == 0


def check_result_outlives_vendor_link(tasks: VideoTasks, files: ExpiringFiles,
                                      link_of: Callable[[dict[str, Any]], str], **body: Any) -> None:
    """The vendor's result link dies 1.5 s after the task succeeds; the gateway still serves the
    video, through its route and through the SDK. `link_of` finds the link in the native task."""
    files.lifetime = 1.5
    task = tasks.post(**body).json()
    wait_for(lambda: files.downloads >= 1)  # copied as soon as the task succeeded
    time.sleep(1.7)
    link = link_of(tasks.get(task["id"], "?format=native"))
    assert httpx.get(link).status_code == 403  # the vendor's link is dead now
    r = tasks.download(task["id"])
    assert r.status_code == 200 and r.content == MP4
    assert tasks.sdk().videos.download_content(task["id"]).read() == MP4


def check_wrong_vendor_key(start: StartGateway, provider: str, base_url: str, model: str,
                           wrong_key: str) -> httpx.Response:
    """A submit with a key the vendor refuses: 401, and the key nowhere in the answer. Returns the
    answer for the vendor's own words."""
    gw = start({"models": [{"name": model, "provider": provider, "base_url": base_url, "api_key": wrong_key}]},
               env={})
    r = httpx.post(gw.url + ROUTE, json={"model": model, "prompt": "x"})
    assert r.status_code == 401, r.text
    assert wrong_key not in r.text
    return r
