"""Every hook in the contract is documented and exercised here (a new hook without both fails).

The `test_hook_<name>` functions drive each hook through the gateway's public API.
"""

from __future__ import annotations

import base64
import inspect
import re
import time
from pathlib import Path

import httpx
import orjson
import pytest

from relayport import hookimpl, hookspecs
from relayport.config import parse_config
from relayport.model import (
    Finish,
    GatewayError,
    ImageBlock,
    MediaInputs,
    MediaKind,
    MediaOutput,
    MediaRequest,
    SubmittedTask,
    TaskStatus,
    TaskUpdate,
    TextDelta,
    UpstreamRequest,
)
from relayport.plugins import load_plugins
from relayport.provider import Passthrough, ProviderSpec, Route, Surface
from relayport.routing import Router
from relayport.tasks.runner import TaskRunner
from relayport.tasks.store import TaskStore
from relayport.testing.fakes import Reply
from relayport.upstream import new_session
from relayport.urlguard import FetchPolicy, new_fetch_session
from relayport.wire import openai_chat
from relayport.wire.sse import payloads
from tests.fake_echo import ECHO_KEY

HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if name.startswith("relayport_") and callable(fn))
DOC = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()


def test_contract_has_the_expected_families():
    assert {"relayport_register_providers", "relayport_register_surfaces", "relayport_translate_request",
            "relayport_stream_parser", "relayport_map_error", "relayport_submit_task",
            "relayport_poll_request"} <= set(HOOKS)
    assert set(hookspecs.PER_CALL_HOOKS) == set(HOOKS) - {"relayport_register_providers",
                                                         "relayport_register_surfaces",
                                                         "relayport_register_services"}


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert doc.splitlines()[0].endswith("."), f"{name}: needs a one-line summary"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name}: :param {param}: missing"
    if fn.relayport_spec["firstresult"]:
        assert "Stops at first non-None result." in doc
    assert re.search(rf"^### `?{name}`?", DOC, re.M), f"docs/plugins.md has no section for {name}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    assert callable(globals().get(f"test_hook_{name}")), f"write test_hook_{name} in tests/test_hooks.py"


# --------------------------------------------------------------------------- registration


def test_hook_relayport_register_providers():
    plugins = load_plugins({})
    assert plugins.provider("echo").spec.auth == "header:X-Echo-Key"
    assert plugins.provider("openai").spec.openai_compat is not None


def test_hook_relayport_register_surfaces(relayport_gateway):
    def render(err: GatewayError) -> tuple[int, bytes]:
        return err.status, orjson.dumps({"oops": err.message})

    async def hello(request):
        if request.query.get("fail"):
            raise GatewayError(418, "teapot")
        return __import__("aiohttp").web.json_response({"hello": "world"})

    class Surf:
        @hookimpl
        def relayport_register_surfaces(self, register):
            register(Surface("hello", (Route("GET", "/v1/hello", hello),), render_error=render))

    gw = relayport_gateway({"auth": {"keys": ["k"]}}, env={}, extra_plugins={"surf": Surf()})
    assert httpx.get(gw.url + "/v1/hello", headers={"x-api-key": "k"}).json() == {"hello": "world"}
    r = httpx.get(gw.url + "/v1/hello?fail=1", headers={"x-api-key": "k"})
    assert (r.status_code, r.json()) == (418, {"oops": "teapot"})
    r = httpx.get(gw.url + "/v1/hello")  # auth errors use the surface's envelope too
    assert r.status_code == 401 and "oops" in r.json()


def test_hook_relayport_register_services(relayport_gateway, fake_upstream):
    from relayport.webservices import WebService

    class Svc:
        @hookimpl
        def relayport_register_services(self, register):
            register(WebService("lookup", fake_upstream.url, ("/v2/find",), key_env=("LOOKUP_KEY",),
                                auth="header:X-Lookup-Key"))

    fake_upstream.push(Reply.json({"found": ["a"]}))
    gw = relayport_gateway({"auth": {"keys": ["k"]}}, env={"LOOKUP_KEY": "vendor-secret"},
                           extra_plugins={"svc": Svc()})
    r = httpx.post(gw.url + "/v1/services/lookup/v2/find?x=1", headers={"x-api-key": "k"}, json={"q": "a"})
    assert (r.status_code, r.json()) == (200, {"found": ["a"]})
    sent = fake_upstream.last
    assert (sent.path, sent.query, sent.json()) == ("/v2/find", {"x": "1"}, {"q": "a"})
    assert sent.headers["x-lookup-key"] == "vendor-secret" and "x-api-key" not in sent.headers


# --------------------------------------------------------------------------- request translation


def _echo_gateway(relayport_gateway, fake_echo):
    return relayport_gateway({"models": [{"name": "e", "provider": "echo", "base_url": fake_echo.base_url,
                                          "api_key": ECHO_KEY}]}, env={})


def test_hook_relayport_translate_request(relayport_gateway, fake_echo):
    gw = _echo_gateway(relayport_gateway, fake_echo)
    r = httpx.post(gw.openai_base_url + "/chat/completions", json={
        "model": "e", "max_tokens": 9, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]})
    assert r.status_code == 200
    assert fake_echo.last.path == "/generate"
    assert fake_echo.last.headers["x-echo-key"] == ECHO_KEY
    assert fake_echo.last.json() == {"model": "e", "stream": False, "limit": 9,
                                     "input": [{"who": "sys", "text": "s"}, {"who": "user", "text": "u"}]}
    # A plugin's 400 for input its vendor cannot take reaches the client.
    r = httpx.post(gw.openai_base_url + "/chat/completions", json={"model": "e", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})
    assert r.status_code == 400 and "text only" in r.json()["error"]["message"]


def test_hook_relayport_parse_response(relayport_gateway, fake_echo):
    gw = _echo_gateway(relayport_gateway, fake_echo)
    fake_echo.push(Reply.json({"id": "e9", "output": "cut short", "done": "cut", "tokens": {"in": 4, "out": 2}}))
    body = httpx.post(gw.openai_base_url + "/chat/completions",
                      json={"model": "e", "messages": [{"role": "user", "content": "u"}]}).json()
    assert body["id"] == "e9"
    assert body["choices"][0]["message"]["content"] == "cut short"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["prompt_tokens"] == 4 and body["usage"]["total_tokens"] == 6


def test_hook_relayport_map_error(relayport_gateway, fake_echo):
    gw = _echo_gateway(relayport_gateway, fake_echo)
    fake_echo.push(Reply.json({"problem": "slow down", "retry": True}, status=429))
    r = httpx.post(gw.openai_base_url + "/chat/completions", json={"model": "e", "messages": [{"role": "user", "content": "u"}]})
    assert r.status_code == 429 and r.json()["error"]["message"] == "echo: slow down"


def test_hook_relayport_stream_parser(relayport_gateway, fake_echo):
    gw = _echo_gateway(relayport_gateway, fake_echo)
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", json={
            "model": "e", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "lines"}]}) as r:
        raw = r.read()
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "you said lines"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


class Blocks:
    """A vendor whose parser takes whole reads (`feed_sse`); it records what the core hands it."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []

    @hookimpl
    def relayport_register_providers(self, register):
        register(ProviderSpec(name="blocks", base_url="https://b.example", key_env=("B_KEY",)))

    @hookimpl
    def relayport_translate_request(self, deployment, request):
        return UpstreamRequest("POST", deployment.url("/gen"), {}, b"{}", stream=request.stream)

    @hookimpl
    def relayport_stream_parser(self, deployment, request):
        plugin = self

        class Parser:
            framing = "sse"
            done = False

            def feed(self, event):
                return self._text([event.data])

            def feed_sse(self, data):
                plugin.reads.append(data)
                return self._text(payloads(data))

            def _text(self, datas):
                out = []
                for d in datas:
                    if d == b"end":
                        self.done = True
                        out.append(Finish("stop"))
                    else:
                        out.append(TextDelta(orjson.loads(d)["t"]))
                return out

            def close(self):
                return []

        return Parser()


def test_stream_parser_with_feed_sse_gets_whole_events(relayport_gateway, fake_upstream):
    """`feed_sse` gets whole events only, with LF line ends, however the vendor's bytes arrive."""
    plugin = Blocks()
    fake_upstream.push(Reply.sse([
        b'data: {"t":"a"}\r\n\r\ndata: {"t":', b'"b"}\r', b'\n\r\nevent: x\r\ndata: {"t":"c"}\r\n\r\n',
        b"data: end\r\n\r\n",
    ], delay=0.05))
    gw = relayport_gateway({"models": [{"name": "b", "provider": "blocks", "base_url": fake_upstream.url,
                                        "api_key": "k"}]}, env={}, extra_plugins={"blocks": plugin})
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", json={
            "model": "b", "stream": True, "messages": [{"role": "user", "content": "u"}]}) as r:
        raw = r.read()
    chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "abc"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and raw.endswith(b"data: [DONE]\n\n")
    assert len(plugin.reads) >= 3  # one call per read, not one for the whole stream
    assert all(read.endswith(b"\n\n") and b"\r" not in read for read in plugin.reads)
    assert b"".join(plugin.reads) == (b'data: {"t":"a"}\n\ndata: {"t":"b"}\n\nevent: x\ndata: {"t":"c"}\n\n'
                                      b"data: end\n\n")


def test_hook_relayport_passthrough(relayport_gateway, fake_openai):
    """A plugin can take over passthrough for an OpenAI-compatible vendor (here: add a header)."""
    from relayport.openai_compat import OpenAICompat, passthrough

    class Tagged:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="tagged", base_url="https://t.example/v1", key_env=("T_KEY",),
                                  openai_compat=OpenAICompat()))

        @hookimpl
        def relayport_passthrough(self, deployment, surface, body, headers):
            plan = passthrough(deployment, deployment.provider.openai_compat, body)
            plan.request.headers["X-Tag"] = "yes"
            return Passthrough(plan.request, patch=lambda obj: obj.update(tagged=True) or True)

    gw = relayport_gateway({"models": [{"name": "t", "provider": "tagged", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key}]}, env={}, extra_plugins={"tagged": Tagged()})
    r = httpx.post(gw.openai_base_url + "/chat/completions", json={"model": "t", "messages": [{"role": "user", "content": "u"}]})
    assert r.status_code == 200 and r.json()["tagged"] is True
    assert fake_openai.last.headers["x-tag"] == "yes"


# --------------------------------------------------------------------------- task polling


class Video:
    """A made-up async video vendor: POST /videos -> {"job"}; GET /videos/{job} -> {"state", "url"}."""

    @hookimpl
    def relayport_register_providers(self, register):
        register(ProviderSpec(name="vid", base_url="https://vid.example", key_env=("VID_KEY",),
                              capabilities=frozenset({"video_generation"})))

    @hookimpl
    def relayport_submit_task(self, deployment, request):
        return UpstreamRequest("POST", deployment.url("/videos"), deployment.auth_headers(),
                               json={"model": deployment.model, "prompt": request.prompt})

    @hookimpl
    def relayport_parse_submit(self, deployment, request, response):
        return SubmittedTask(orjson.loads(response.body)["job"])

    @hookimpl
    def relayport_poll_request(self, deployment, task):
        return UpstreamRequest("GET", deployment.url(f"/videos/{task.vendor_task_id}"), deployment.auth_headers())

    @hookimpl
    def relayport_parse_poll(self, deployment, task, response):
        obj = orjson.loads(response.body)
        status = {"waiting": TaskStatus.QUEUED, "working": TaskStatus.RUNNING, "done": TaskStatus.SUCCEEDED,
                  "error": TaskStatus.FAILED}[obj["state"]]
        return TaskUpdate(status, progress=obj.get("progress"),
                          outputs=[MediaOutput(url=obj["url"])] if obj.get("url") else [],
                          error=GatewayError(400, obj["reason"]) if obj.get("reason") else None)


@pytest.fixture
async def video_runner(tmp_path, fake_upstream):
    plugins = load_plugins({}, extra_plugins={"vid": Video()})
    config = parse_config({"models": [{"name": "v", "provider": "vid", "base_url": fake_upstream.url,
                                       "api_key": "vid-key"}]})
    store = TaskStore(str(tmp_path / "tasks.sqlite3"))
    await store.open()
    session = new_session()
    runner = TaskRunner(store, session, Router(config, plugins, {}))
    yield runner, runner.router.resolve("v")[0]
    await session.close()
    await store.close()


async def test_hook_relayport_submit_task(video_runner, fake_upstream):
    runner, dep = video_runner
    fake_upstream.push(Reply.json({"job": "job-77"}))
    task = await runner.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="a cat"))
    assert fake_upstream.last.json() == {"model": "v", "prompt": "a cat"}
    assert fake_upstream.last.headers["authorization"] == "Bearer vid-key"
    assert task.vendor_task_id == "job-77" and task.status is TaskStatus.QUEUED
    assert task.id.startswith("task_") and "job-77" not in task.id and len(task.id) > 20


async def test_hook_relayport_media_urls_to_fetch(tmp_path, fake_upstream):
    """The plugin names a URL; the core downloads it for the submit and keeps it out of the store."""
    seen: list[dict] = []

    class Inline(Video):
        @hookimpl
        def relayport_media_urls_to_fetch(self, deployment, request):
            return [u for u in request.media.images if u.startswith("http")]

        @hookimpl
        def relayport_submit_task(self, deployment, request):
            seen.append(dict(request.fetched))
            got = request.fetched[request.media.images[0]]
            return UpstreamRequest("POST", deployment.url("/videos"), deployment.auth_headers(),
                                   json={"image": got.body.decode(), "type": got.content_type})

    plugins = load_plugins({}, extra_plugins={"vid": Inline()})
    config = parse_config({"models": [{"name": "v", "provider": "vid", "base_url": fake_upstream.url,
                                       "api_key": "vid-key"}]})
    store = TaskStore(str(tmp_path / "tasks.sqlite3"))
    await store.open()
    session, fetching = new_session(), new_fetch_session(FetchPolicy(allow_private=True))
    runner = TaskRunner(store, session, Router(config, plugins, {}), fetch_session=fetching,
                        fetch_policy=FetchPolicy(allow_private=True))
    dep = runner.router.resolve("v")[0]
    try:
        fake_upstream.push(Reply(body=b"frame-bytes", headers={"Content-Type": "image/png"}), Reply.json({"job": "j"}))
        url = fake_upstream.url + "/frame.png"
        request = MediaRequest(MediaKind.VIDEO, "v", prompt="x", media=MediaInputs(images=[url]))
        task = await runner.submit(dep, request)
        assert fake_upstream.requests[0].path == "/frame.png"
        assert fake_upstream.last.json() == {"image": "frame-bytes", "type": "image/png"}
        assert list(seen[0]) == [url] and task.request.fetched == {}
        stored = await store.get(task.id)
        assert stored is not None and stored.request.fetched == {} and stored.request.media.images == [url]
        # A URL the policy refuses is the client's 400, and the vendor is not called.
        strict = TaskRunner(store, session, runner.router, fetch_session=fetching, fetch_policy=FetchPolicy())
        before = len(fake_upstream.requests)
        with pytest.raises(GatewayError) as exc:
            await strict.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="x", media=MediaInputs(images=[url])))
        assert exc.value.status == 400 and exc.value.code == "invalid_url"
        assert len(fake_upstream.requests) == before
    finally:
        await session.close()
        await fetching.close()
        await store.close()


async def test_hook_relayport_parse_submit(video_runner, fake_upstream):
    runner, dep = video_runner
    fake_upstream.push(Reply.json({"job": "job-1"}))
    task = await runner.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="x"))
    stored = await runner.store.get(task.id)
    assert stored is not None and stored.vendor_task_id == "job-1"


async def test_hook_relayport_poll_request(video_runner, fake_upstream):
    runner, dep = video_runner
    fake_upstream.push(Reply.json({"job": "job-5"}), Reply.json({"state": "working", "progress": 0.5}))
    task = await runner.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="x"))
    task = await runner.poll(task)
    assert fake_upstream.last.method == "GET" and fake_upstream.last.path == "/videos/job-5"
    assert task.status is TaskStatus.RUNNING and task.progress == 0.5


async def test_hook_relayport_parse_poll(video_runner, fake_upstream, tmp_path):
    runner, dep = video_runner
    fake_upstream.push(Reply.json({"job": "j"}), Reply.json({"state": "done", "url": "https://cdn/x.mp4"}))
    task = await runner.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="x"))
    task = await runner.poll(task)
    assert task.status is TaskStatus.SUCCEEDED and task.outputs[0].url == "https://cdn/x.mp4"
    # A restart: a new store on the same file still has the finished task.
    again = TaskStore(runner.store.path)
    await again.open()
    stored = await again.get(task.id)
    await again.close()
    assert stored is not None and stored.status is TaskStatus.SUCCEEDED and stored.outputs[0].url == "https://cdn/x.mp4"
    # Final tasks are not polled again.
    before = len(fake_upstream.requests)
    await runner.poll(task)
    assert len(fake_upstream.requests) == before


async def test_parse_poll_vendor_state_drives_a_second_step(video_runner, fake_upstream):
    """MiniMax-style results: 'Success' names a file whose URL takes one more call."""
    runner, dep = video_runner

    class TwoStep(Video):
        @hookimpl
        def relayport_poll_request(self, deployment, task):
            file_id = task.vendor_state.get("file_id")
            path = f"/files/retrieve?file_id={file_id}" if file_id else f"/videos/{task.vendor_task_id}"
            return UpstreamRequest("GET", deployment.url(path), deployment.auth_headers())

        @hookimpl
        def relayport_parse_poll(self, deployment, task, response):
            obj = orjson.loads(response.body)
            if "file_id" in obj:
                return TaskUpdate(TaskStatus.RUNNING, vendor_state={"file_id": obj["file_id"]})
            return TaskUpdate(TaskStatus.SUCCEEDED, outputs=[MediaOutput(url=obj["download_url"])])

    plugins = load_plugins({}, extra_plugins={"two": TwoStep()})
    config = parse_config({"models": [{"name": "v", "provider": "vid", "base_url": fake_upstream.url,
                                       "api_key": "k"}]})
    runner.router = Router(config, plugins, {})
    dep = runner.router.resolve("v")[0]
    fake_upstream.push(Reply.json({"job": "j9"}), Reply.json({"file_id": "f-1"}),
                       Reply.json({"download_url": "https://cdn/f-1.mp4"}))
    task = await runner.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="x"))
    task = await runner.poll(task)
    assert task.status is TaskStatus.RUNNING and task.vendor_state == {"file_id": "f-1"}
    task = await runner.poll(task)
    assert fake_upstream.last.path == "/files/retrieve" and fake_upstream.last.query == {"file_id": "f-1"}
    assert task.status is TaskStatus.SUCCEEDED and task.outputs[0].url == "https://cdn/f-1.mp4"


async def test_task_past_its_deadline_fails(video_runner, fake_upstream):
    runner, dep = video_runner
    fake_upstream.push(Reply.json({"job": "slow"}))
    task = await runner.submit(dep, MediaRequest(MediaKind.VIDEO, "v", prompt="x"), deadline=-1)
    task = await runner.poll(task)
    assert task.status is TaskStatus.FAILED and task.error.code == "task_deadline_exceeded"


def test_hook_relayport_cancel_request(relayport_gateway):
    from tests.fake_clip import ClipPlugin, ClipServer, clip_config

    clip = ClipServer(steps=("working",)).start()
    try:
        gw = relayport_gateway(clip_config(clip), env={}, extra_plugins={"clip": ClipPlugin()})
        task = httpx.post(gw.url + "/v1/videos/generations", json={"model": "clip-1", "prompt": "x"}).json()
        r = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        cancel = [q for q in clip.requests if q.method == "DELETE"]
        assert [q.path for q in cancel] == ["/v1/clips/clip-1"]
        assert cancel[0].headers["authorization"].endswith("clip-secret-key")
    finally:
        clip.stop()


def test_cancel_without_the_hook_is_501(relayport_gateway, fake_upstream):
    gw = relayport_gateway({"models": [{"name": "v", "provider": "vid", "base_url": fake_upstream.url,
                                        "api_key": "k"}], "tasks": {"poll_interval": 3600.0}},
                           env={}, extra_plugins={"vid": Video()})
    fake_upstream.push(Reply.json({"job": "j1"}))
    task = httpx.post(gw.url + "/v1/videos/generations", json={"model": "v", "prompt": "x"}).json()
    fake_upstream.push(Reply.json({"state": "working"}))
    r = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}")
    assert r.status_code == 501 and r.json()["error"]["code"] == "unsupported_operation"


def test_hook_relayport_content_request(relayport_gateway):
    """A vendor whose results need its key: the plugin builds the download request."""
    from tests.fake_clip import VIDEO, ClipPlugin, ClipServer, clip_config

    class KeyedClip(ClipPlugin):
        @hookimpl
        def relayport_content_request(self, deployment, task, index):
            return UpstreamRequest("GET", deployment.url(f"/files/{task.vendor_task_id}.mp4"),
                                   {**deployment.auth_headers(), "X-Want": f"output-{index}"})

    clip = ClipServer(steps=("done",)).start()
    try:
        gw = relayport_gateway(clip_config(clip), env={}, extra_plugins={"clip": KeyedClip()})
        task = httpx.post(gw.url + "/v1/videos/generations", json={"model": "clip-1", "prompt": "x"}).json()
        url = f"{gw.url}/v1/videos/generations/{task['id']}/content"
        deadline = time.time() + 10
        while (r := httpx.get(url)).status_code != 200 and time.time() < deadline:
            time.sleep(0.05)
        assert r.content == VIDEO
        download = next(q for q in clip.requests if q.path.startswith("/files/"))
        assert download.headers["x-want"] == "output-0"
        assert download.headers["authorization"] == "Bearer clip-secret-key"
    finally:
        clip.stop()


def test_hook_relayport_speech_stream(relayport_gateway, fake_upstream):
    """A vendor streaming JSON lines with hex audio: the client gets the bytes as OpenAI speech."""
    from relayport.speech_stream import EncodedAudio, SpeechStream

    class Talk:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="talk", base_url="https://talk.example", key_env=("TALK_KEY",),
                                  capabilities=frozenset({"speech"})))

        @hookimpl
        def relayport_speech_stream(self, deployment, request):
            up = UpstreamRequest("POST", deployment.url("/say"), deployment.auth_headers(),
                                 json={"text": request.prompt, "voice": request.voice})
            return SpeechStream(up, framing="lines", media_type="audio/wav", parser=EncodedAudio(
                ("chunk",), "hex", final=lambda e: e.get("last") is True))

    gw = relayport_gateway({"models": [{"name": "talk-1", "provider": "talk", "base_url": fake_upstream.url,
                                        "api_key": "talk-secret"}]}, env={}, extra_plugins={"talk": Talk()})
    lines = [b'{"chunk": "%s"}\n' % part.hex().encode() for part in (b"RIFF", b"WAVE")]
    fake_upstream.push(Reply(events=[*lines, b'{"last": true}\n', b'{"chunk": "00"}\n'],
                             headers={"Content-Type": "application/x-ndjson"}))
    r = httpx.post(gw.url + "/v1/audio/speech", json={"model": "talk-1", "input": "hi", "voice": "v1"})
    assert r.status_code == 200 and r.content == b"RIFFWAVE" and r.headers["content-type"] == "audio/wav"
    assert fake_upstream.last.json() == {"text": "hi", "voice": "v1"}
    assert fake_upstream.last.headers["authorization"] == "Bearer talk-secret"


def _embedding_gateway(relayport_gateway, fake_upstream, extra_plugins=None, provider="openai"):
    return relayport_gateway({"models": [{"name": "emb", "provider": provider, "model": "text-embedding-3-small",
                                          "base_url": fake_upstream.url, "api_key": "sk-emb"}]},
                             env={}, extra_plugins=extra_plugins or {})


def test_hook_relayport_embeddings_request(relayport_gateway, fake_upstream):
    gw = _embedding_gateway(relayport_gateway, fake_upstream)
    fake_upstream.push(Reply.json({"object": "list", "model": "text-embedding-3-small", "data": [
        {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}))
    r = httpx.post(gw.url + "/v1/embeddings", json={"model": "emb", "input": "hello", "dimensions": 2})
    assert r.status_code == 200
    sent = fake_upstream.last
    assert sent.path == "/embeddings" and sent.headers["authorization"] == "Bearer sk-emb"
    assert sent.json() == {"model": "text-embedding-3-small", "input": "hello", "dimensions": 2,
                           "encoding_format": "base64"}
    assert r.json() == {"object": "list", "model": "emb", "usage": {"prompt_tokens": 3, "total_tokens": 3},
                        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}]}


def test_hook_relayport_count_tokens(relayport_gateway, fake_upstream):
    from relayport.model.tokens import TokenCount

    class Counter:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="cnt", base_url="https://cnt.example", key_env=("CNT_KEY",),
                                  auth="header:X-Cnt-Key", capabilities=frozenset({"chat"})))

        @hookimpl
        def relayport_count_tokens(self, deployment, request):
            text = request.messages[-1].content[0].text
            up = UpstreamRequest("POST", deployment.url("/count"), deployment.auth_headers(),
                                 json={"text": text, "model": deployment.model})
            return TokenCount(up, lambda response: orjson.loads(response.body)["n"] * 2)

    gw = relayport_gateway({"auth": {"keys": ["k"]}, "models": [
        {"name": "c", "provider": "cnt", "model": "cnt-1", "base_url": fake_upstream.url}]},
        env={"CNT_KEY": "cnt-secret"}, extra_plugins={"cnt": Counter()})
    fake_upstream.push(Reply.json({"n": 21}))
    r = httpx.post(gw.url + "/v1/responses/input_tokens", headers={"x-api-key": "k"},
                   json={"model": "c", "input": "count me"})
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "response.input_tokens", "input_tokens": 42}  # what `read` made of it
    assert fake_upstream.last.path == "/count" and fake_upstream.last.headers["x-cnt-key"] == "cnt-secret"
    assert fake_upstream.last.json() == {"text": "count me", "model": "cnt-1"}
    fake_upstream.push(Reply.json({"error": {"message": "no"}}, status=429))
    r = httpx.post(gw.url + "/v1/responses/input_tokens", headers={"x-api-key": "k"},
                   json={"model": "c", "input": "count me"})
    assert r.status_code == 429 and "error" in r.json()


def test_hook_relayport_parse_embeddings(relayport_gateway, fake_upstream):
    import base64
    import struct

    class Vectors:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="vec", base_url="https://vec.example", key_env=("VEC_KEY",),
                                  capabilities=frozenset({"embeddings"})))

        @hookimpl
        def relayport_embeddings_request(self, deployment, request):
            return UpstreamRequest("POST", deployment.url("/embed"), {}, json={"texts": request.input})

        @hookimpl
        def relayport_parse_embeddings(self, deployment, request, response):
            from relayport.model import EmbeddingResponse, Usage

            obj = orjson.loads(response.body)
            return EmbeddingResponse(obj["vectors"], "v", Usage(input_tokens=obj["tokens"]))

    gw = _embedding_gateway(relayport_gateway, fake_upstream, {"vec": Vectors()}, provider="vec")
    for fmt in ("float", "base64"):
        fake_upstream.push(Reply.json({"vectors": [[1.0, 2.0], [0.25, -0.5]], "tokens": 4}))
        r = httpx.post(gw.url + "/v1/embeddings", json={"model": "emb", "input": ["a", "b"], "encoding_format": fmt})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        got = [d["embedding"] for d in data]
        if fmt == "base64":
            got = [list(struct.unpack("<2f", base64.b64decode(g))) for g in got]
        assert got == [[1.0, 2.0], [0.25, -0.5]] and [d["index"] for d in data] == [0, 1]
        assert r.json()["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    assert fake_upstream.last.json() == {"texts": ["a", "b"]}
    r = httpx.post(gw.url + "/v1/embeddings", json={"model": "emb", "input": "a", "encoding_format": "int8"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "encoding_format"


# --------------------------------------------------------------------------- adjustments


class Adjusting:
    """Drops `top_p` and says so, on both the translated and the passed-through path.

    Its provider has no `openai_compat`, so nothing passes through unless this plugin says so;
    it reuses the OpenAI-compatible base's functions for the actual work.
    """

    from relayport.openai_compat import OpenAICompat

    compat = OpenAICompat()

    @hookimpl
    def relayport_register_providers(self, register):
        register(ProviderSpec(name="adj", base_url="https://adj.example/v1", key_env=("ADJ_KEY",)))

    @hookimpl
    def relayport_passthrough(self, deployment, surface, body, headers):
        from relayport.openai_compat import passthrough

        if body.pop("top_p", None) is None:
            return None  # no top_p: translate instead, to exercise that path too
        plan = passthrough(deployment, self.compat, body)
        plan.request.adjustments.append("top_p dropped")
        return plan

    @hookimpl
    def relayport_translate_request(self, deployment, request):
        from relayport.openai_compat import translate_request

        up = translate_request(deployment, self.compat, request)
        up.adjustments += ["seed dropped", "n clamped to 1"]
        return up

    @hookimpl
    def relayport_parse_response(self, deployment, request, response):
        from relayport.openai_compat import parse_response

        return parse_response(self.compat, response)

    @hookimpl
    def relayport_stream_parser(self, deployment, request):
        from relayport.openai_compat import OpenAIStreamParser

        return OpenAIStreamParser(self.compat)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("path", ["passthrough", "translated"])
def test_adjustments_reach_the_client_as_a_header(relayport_gateway, fake_openai, path, stream):
    gw = relayport_gateway({"models": [{"name": "a", "provider": "adj", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key}]}, env={},
                           extra_plugins={"adj": Adjusting()})
    body = {"model": "a", "stream": stream, "messages": [{"role": "user", "content": "u"}]}
    if path == "passthrough":
        body["top_p"] = 0.5
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body)
    assert r.status_code == 200
    expected = "top_p dropped" if path == "passthrough" else "seed dropped, n clamped to 1"
    assert r.headers["x-relayport-adjustments"] == expected
    assert "top_p" not in fake_openai.last.json()


def test_no_adjustments_no_header(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [{"name": "gpt-4o-mini", "provider": "openai", "base_url": fake_openai.base_url,
                                        "api_key": fake_openai.api_key}]}, env={})
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "u"}]})
    assert r.status_code == 200 and "x-relayport-adjustments" not in r.headers


# --------------------------------------------------------------------------- URL fetching


class Inliner:
    """A vendor that takes images only inline: it names the URLs, the core downloads them."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def relayport_register_providers(self, register):
        register(ProviderSpec(name="inliner", base_url="https://i.example", key_env=("I_KEY",)))

    @hookimpl
    def relayport_urls_to_fetch(self, deployment, request):
        self.asked += 1
        return [b.url for m in request.messages for b in m.content
                if isinstance(b, ImageBlock) and b.url and not b.data]

    @hookimpl
    def relayport_translate_request(self, deployment, request):
        images = [request.fetched[b.url] for m in request.messages for b in m.content
                  if isinstance(b, ImageBlock) and b.url and not b.data]
        body = {"model": deployment.model, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:{f.content_type};base64,"
                                                       + base64.b64encode(f.body).decode()}}
            for f in images]}]}
        return UpstreamRequest("POST", deployment.url("/chat/completions"), deployment.auth_headers(),
                               orjson.dumps(body), stream=request.stream)

    @hookimpl
    def relayport_parse_response(self, deployment, request, response):
        return openai_chat.decode_response(orjson.loads(response.body))


def test_hook_relayport_urls_to_fetch(relayport_gateway, fake_upstream, fake_openai):
    """The core downloads the URLs a plugin names (within the [fetch] policy) before translating."""
    fake_upstream.push(Reply(body=b"\x89PNGfake", headers={"Content-Type": "image/png"}))
    plugin = Inliner()
    config = {"models": [{"name": "i", "provider": "inliner", "base_url": fake_openai.base_url,
                          "api_key": "sk-fake-upstream"}]}
    image = {"type": "image_url", "image_url": {"url": fake_upstream.url + "/cat.png"}}
    body = {"model": "i", "messages": [{"role": "user", "content": [image]}]}
    # Loopback is a private address: refused by default, before the vendor is called.
    gw = relayport_gateway(config, env={}, extra_plugins={"inliner": plugin})
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_url"
    assert "private or local" in r.json()["error"]["message"] and not fake_openai.requests
    # Allowed by config: fetched once, inlined by the plugin's translation.
    gw = relayport_gateway({**config, "fetch": {"allow_private": True}}, env={},
                           extra_plugins={"inliner": plugin})
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert fake_upstream.last.path == "/cat.png"
    sent = fake_openai.last.json()["messages"][0]["content"][0]["image_url"]["url"]
    assert sent == "data:image/png;base64," + base64.b64encode(b"\x89PNGfake").decode()
    # A URL that answers with an error is the client's 400, naming the URL but no more.
    fake_upstream.push(Reply(status=404, body=b"gone"))
    r = httpx.post(gw.openai_base_url + "/chat/completions", json=body)
    assert r.status_code == 400 and "HTTP 404" in r.json()["error"]["message"]


# --------------------------------------------------------------------------- realtime sessions


async def test_hook_relayport_realtime_endpoint(relayport_gateway, fake_openai_realtime):
    """A plugin's translator sits between the sockets: its start events go first, client events
    reach the vendor as it rewrites them, and vendor events reach the client as it rewrites them."""
    import aiohttp

    from relayport.realtime import RealtimeEndpoint, Relay

    class Shout:
        def start(self):
            return Relay(client=[{"type": "session.created", "session": {"by": "translator"}}])

        def from_client(self, event):
            if event["type"] == "response.cancel":
                from relayport.realtime import RealtimeError
                raise RealtimeError("cannot cancel here", "unsupported_event")
            return Relay(vendor=[{**event, "type": event["type"].replace("shout.", "")}])

        def from_vendor(self, event):
            if event["type"] == "session.created":
                return Relay()
            return Relay(client=[{**event, "loud": True}])

    class Plugin:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="shouty", base_url="http://unused", auth="bearer"))

        @hookimpl
        def relayport_realtime_endpoint(self, deployment, query):
            assert query == {"intent": "talk"}
            return RealtimeEndpoint(fake_openai_realtime.ws_url + "?model=" + deployment.model,
                                    deployment.auth_headers(), translator=Shout())

    gw = relayport_gateway({"models": [{"name": "s", "provider": "shouty", "model": "loud-1",
                                        "api_key": fake_openai_realtime.key}]},
                           env={}, extra_plugins={"shouty": Plugin()})
    url = gw.url.replace("http://", "ws://") + "/v1/realtime?model=s&intent=talk"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        assert await ws.receive_json(timeout=5) == {"type": "session.created", "session": {"by": "translator"}}
        await ws.send_json({"type": "shout.session.update", "session": {"instructions": "x"}})
        updated = await ws.receive_json(timeout=5)
        assert updated["type"] == "session.updated" and updated["loud"] is True
        await ws.send_json({"type": "response.cancel", "event_id": "e1"})
        err = await ws.receive_json(timeout=5)
        assert err["error"]["code"] == "unsupported_event" and err["error"]["event_id"] == "e1"
    assert fake_openai_realtime.queries == [{"model": "loud-1"}]
    assert [e["type"] for e in fake_openai_realtime.received] == ["session.update"]
