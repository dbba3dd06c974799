"""`POST /v1/responses/input_tokens` on a Gemini model: the `openai` SDK's count is Gemini's own
`countTokens`, with the whole request (system instruction, tools, media fetched from URLs
inline as a call would send them), answered in OpenAI's `TokenCountsResource`."""

from __future__ import annotations

import base64
from typing import Any

import openai
import orjson
import pytest
from gemini_helpers import GEMINI_KEY

from relayport.testing import openapi
from relayport.testing.fakes import Reply
from relayport_gemini.testing import FakeGemini, google_error

pytest_plugins = ("gemini_fixtures",)  # fixtures shared without a conftest.py (see there why)
WEATHER = {"type": "function", "name": "weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def test_count_is_gemini_count_tokens(openai_client: Any, fake_gemini: FakeGemini) -> None:
    raw = openai_client.responses.input_tokens.with_raw_response.count(
        model="gemini-flash", instructions="Answer in one line.", input="How warm is Paris today?", tools=[WEATHER])
    openapi.validate("TokenCountsResource", orjson.loads(raw.content))
    assert "x-relayport-adjustments" not in raw.headers
    rec = fake_gemini.last
    assert rec.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert rec.headers["x-goog-api-key"] == GEMINI_KEY
    inner = rec.json()["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert inner["contents"] == [{"role": "user", "parts": [{"text": "How warm is Paris today?"}]}]
    assert inner["systemInstruction"]["parts"] == [{"text": "Answer in one line."}]
    assert inner["tools"][0]["functionDeclarations"][0]["name"] == "weather"
    # The fake: 5 words + 3, the system's 4 words, and a quarter of the tools' JSON.
    assert raw.parse().input_tokens == 5 + 3 + 4 + len(orjson.dumps(inner["tools"])) // 4


def test_count_inlines_fetched_images(openai_client: Any, fake_gemini: FakeGemini, media_server: Any) -> None:
    media_server.push(Reply(body=PNG, headers={"Content-Type": "image/png"}))
    counted = openai_client.responses.input_tokens.count(model="gemini-flash", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is it"},
        {"type": "input_image", "image_url": media_server.url + "/pic.png"}]}])
    parts = fake_gemini.last.json()["generateContentRequest"]["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    assert counted.input_tokens == 3 + 3 + 258


def test_count_error_in_openai_envelope(openai_client: Any, fake_gemini: FakeGemini) -> None:
    fake_gemini.push(google_error(400, "Request contains an invalid argument."))
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.responses.input_tokens.count(model="gemini-flash", input="x")
    openapi.validate_error(err.value.response.json())
    assert "invalid argument" in err.value.response.json()["error"]["message"]
