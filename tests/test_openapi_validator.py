"""Tests for relayport.testing.openapi: the OpenAI OpenAPI-spec validator used by wire tests.

The positive cases are shaped like real OpenAI responses; the negative ones must raise
AssertionError, so a validator that accepted everything would fail here.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from relayport.testing import openapi
from relayport.testing.openapi import (
    OpenAPIValidationError,
    SpecNotFoundError,
    validate,
    validate_chat_chunk,
    validate_chat_completion,
    validate_embeddings,
    validate_error,
    validate_image,
    validate_model,
    validate_models_list,
)

Json = dict[str, Any]


# ------------------------------------------------------------------------------------------
# Realistic objects
# ------------------------------------------------------------------------------------------


def chat_completion() -> Json:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    # Not in OpenAI's schema; DeepSeek-style upstreams send it and relayport
                    # may pass it through, so the schema must tolerate extra fields.
                    "reasoning_content": "The user wants the weather, call the tool.",
                    "tool_calls": [
                        {
                            "id": "call_Dn2RJJSxzDm49vlVTehseJ0k",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city": "Paris", "unit": "celsius"}',
                            },
                        }
                    ],
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 12,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }


def chunk(delta: Json, finish_reason: str | None = None, **extra: object) -> Json:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }


def usage_chunk() -> Json:
    """The last chunk with stream_options.include_usage: no choices, usage set."""
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 12,
            "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def error_envelope() -> Json:
    return {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }


def model() -> Json:
    return {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}


# ------------------------------------------------------------------------------------------
# Locating the spec
# ------------------------------------------------------------------------------------------


def test_find_spec_uses_the_packaged_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A clone or install with no ../shared anywhere above it still finds the spec.
    monkeypatch.delenv(openapi.SPEC_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    path = openapi.find_spec()
    assert path == openapi.PACKAGED_SPEC
    assert path.read_text(encoding="utf-8").startswith("openapi: 3.1.0")
    assert "relayport/testing/specs" in path.as_posix()


def test_find_spec_falls_back_to_a_shared_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(openapi.SPEC_ENV_VAR, raising=False)
    shared = tmp_path / "shared" / "specs"
    shared.mkdir(parents=True)
    (shared / "openai-openapi.yaml").write_text("openapi: 3.1.0\n")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setattr(openapi, "PACKAGED_SPEC", tmp_path / "absent.yaml")
    assert openapi.find_spec() == shared / "openai-openapi.yaml"


def test_find_spec_honours_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.1.0\n")
    monkeypatch.setenv(openapi.SPEC_ENV_VAR, str(spec))
    assert openapi.find_spec() == spec.resolve()

    monkeypatch.setenv(openapi.SPEC_ENV_VAR, str(tmp_path / "missing.yaml"))
    with pytest.raises(SpecNotFoundError, match=r"missing\.yaml"):
        openapi.find_spec()


def test_find_spec_fails_loudly_when_absent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Missing spec must be an error (tests fail), never a skip.
    monkeypatch.delenv(openapi.SPEC_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(openapi, "__file__", str(tmp_path / "pkg" / "openapi.py"))
    monkeypatch.setattr(openapi, "PACKAGED_SPEC", tmp_path / "pkg" / "specs" / "openai-openapi.yaml")
    with pytest.raises(SpecNotFoundError, match="not found"):
        openapi.find_spec()
    assert issubclass(SpecNotFoundError, FileNotFoundError)


def test_helper_schema_names_exist() -> None:
    names = set(openapi.schema_names())
    used = {
        openapi.SCHEMA_CHAT_COMPLETION,
        openapi.SCHEMA_CHAT_CHUNK,
        openapi.SCHEMA_ERROR,
        openapi.SCHEMA_MODELS_LIST,
        openapi.SCHEMA_MODEL,
        openapi.SCHEMA_EMBEDDINGS,
        openapi.SCHEMA_IMAGES,
    }
    assert used <= names, used - names


def test_unknown_schema_name_suggests_close_matches() -> None:
    with pytest.raises(KeyError, match="CreateChatCompletionResponse"):
        openapi.validator_for("CreateChatCompletionRespons")


# ------------------------------------------------------------------------------------------
# Valid objects pass
# ------------------------------------------------------------------------------------------


def test_realistic_chat_completion_passes() -> None:
    validate_chat_completion(chat_completion())


def test_chat_completion_with_plain_text_answer_passes() -> None:
    obj = chat_completion()
    message = obj["choices"][0]["message"]
    del message["tool_calls"], message["reasoning_content"]
    message["content"] = "It is 18 °C and sunny in Paris."
    obj["choices"][0]["finish_reason"] = "stop"
    validate_chat_completion(obj)


def test_chat_completion_nullable_patches() -> None:
    # Nulls OpenAI's own examples contain although the raw spec forbids them.
    obj = chat_completion()
    obj["system_fingerprint"] = None
    message = obj["choices"][0]["message"]
    message.update(content="hi", tool_calls=None, function_call=None)
    obj["choices"][0]["finish_reason"] = "stop"
    validate_chat_completion(obj)


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(chunk({"role": "assistant", "content": ""}), id="first-role"),
        pytest.param(chunk({"content": "Hello"}), id="content-finish-null"),
        pytest.param(chunk({}, "stop"), id="finish-stop"),
        pytest.param(chunk({"content": "x"}, None, usage=None), id="usage-null"),
        pytest.param(chunk({"content": "x"}, obfuscation="r4N7vQ2m"), id="obfuscation"),
        pytest.param(
            chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_abc123",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                }
            ),
            id="tool-call-start",
        ),
        pytest.param(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            id="tool-call-args-delta",
        ),
        pytest.param(chunk({}, "tool_calls"), id="finish-tool-calls"),
        pytest.param(usage_chunk(), id="usage-only-final"),
    ],
)
def test_valid_chunks_pass(obj: Json) -> None:
    validate_chat_chunk(obj)


def test_chunk_logprobs_object_passes() -> None:
    obj = chunk({"content": "Hi"})
    obj["choices"][0]["logprobs"] = {
        "content": [{"token": "Hi", "logprob": -0.01, "bytes": [72, 105], "top_logprobs": []}],
        "refusal": None,
    }
    validate_chat_chunk(obj)


def test_error_envelope_passes() -> None:
    validate_error(error_envelope())
    validate_error(
        {"error": {"message": "Rate limit", "type": "requests", "param": None, "code": None}}
    )


def test_models_embeddings_images_pass() -> None:
    validate_model(model())
    validate_models_list({"object": "list", "data": [model(), {**model(), "id": "o3-mini"}]})
    validate_embeddings(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093, 0.5]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
    )
    validate_image({"created": 1713833628, "data": [{"b64_json": "iVBORw0KGgo="}]})
    validate_image(
        {
            "created": 1589478378,
            "data": [{"url": "https://example.invalid/a.png", "revised_prompt": "a cat"}],
        }
    )


# ------------------------------------------------------------------------------------------
# Invalid objects fail with a readable AssertionError
# ------------------------------------------------------------------------------------------


def _mutated(base: Callable[[], Json], mutate: Callable[[Json], None]) -> Json:
    obj = copy.deepcopy(base())
    mutate(obj)
    return obj


INVALID: list[Any] = [
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o.pop("choices")),
        "'choices' is a required property",
        id="completion-missing-choices",
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o.update(object="chat.completion.chunk")),
        "$.object",
        id="completion-wrong-object",
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o.update(created="1741569952")),
        "$.created",
        id="completion-created-string",
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o["choices"][0].update(finish_reason="bogus")),
        "$.choices[0].finish_reason",
        id="completion-bogus-finish",
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o["choices"][0].update(finish_reason=None)),
        "$.choices[0].finish_reason",
        id="completion-null-finish",  # only chunks may have a null finish_reason
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o["choices"][0]["message"].pop("refusal")),
        "'refusal' is a required property",
        id="completion-message-missing-refusal",
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(chat_completion, lambda o: o["usage"].update(total_tokens="1163")),
        "$.usage.total_tokens",
        id="completion-usage-string",
    ),
    pytest.param(
        validate_chat_completion,
        _mutated(
            chat_completion,
            lambda o: o["choices"][0]["message"]["tool_calls"][0].pop("id"),
        ),
        "'id' is a required property",  # the function variant, not "'function' != 'custom'"
        id="completion-tool-call-missing-id",
    ),
    pytest.param(
        validate_chat_chunk,
        _mutated(lambda: chunk({"content": "x"}), lambda o: o.pop("choices")),
        "'choices' is a required property",
        id="chunk-missing-choices",
    ),
    pytest.param(
        validate_chat_chunk,
        _mutated(lambda: chunk({"content": "x"}), lambda o: o.update(object="chat.completion")),
        "$.object",
        id="chunk-wrong-object",
    ),
    pytest.param(
        validate_chat_chunk,
        _mutated(lambda: chunk({"content": "x"}), lambda o: o.update(created="now")),
        "$.created",
        id="chunk-created-string",
    ),
    pytest.param(
        validate_chat_chunk,
        chunk({}, "bogus"),
        "$.choices[0].finish_reason",
        id="chunk-bogus-finish",
    ),
    pytest.param(
        validate_chat_chunk,
        _mutated(lambda: chunk({"content": "x"}), lambda o: o["choices"][0].pop("finish_reason")),
        "'finish_reason' is a required property",
        id="chunk-missing-finish",
    ),
    pytest.param(
        validate_chat_chunk,
        chunk({"tool_calls": [{"function": {"arguments": "{}"}}]}),
        "'index' is a required property",
        id="chunk-tool-call-missing-index",
    ),
    pytest.param(
        validate_chat_chunk,
        _mutated(usage_chunk, lambda o: o["usage"].pop("total_tokens")),
        "'total_tokens' is a required property",
        id="usage-chunk-missing-total",
    ),
    pytest.param(
        validate_error,
        _mutated(error_envelope, lambda o: o["error"].pop("message")),
        "'message' is a required property",
        id="error-missing-message",
    ),
    pytest.param(
        validate_error,
        {"message": "x", "type": "invalid_request_error"},
        "'error' is a required property",
        id="error-not-enveloped",
    ),
    pytest.param(
        validate_model,
        _mutated(model, lambda o: o.pop("owned_by")),
        "'owned_by' is a required property",
        id="model-missing-owned-by",
    ),
    pytest.param(
        validate_models_list,
        {"object": "list", "data": [{**model(), "object": "list"}]},
        "$.data[0].object",
        id="models-list-wrong-item-object",
    ),
    pytest.param(
        validate_embeddings,
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": ["0.1"]}],
            "model": "m",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        },
        "$.data[0].embedding[0]",
        id="embeddings-string-float",
    ),
    pytest.param(
        validate_image,
        {"data": [{"url": "https://example.invalid/a.png"}]},
        "'created' is a required property",
        id="image-missing-created",
    ),
]


@pytest.mark.parametrize(("check", "obj", "expected"), INVALID)
def test_invalid_objects_fail(check: Callable[[object], None], obj: Json, expected: str) -> None:
    with pytest.raises(AssertionError) as excinfo:
        check(obj)
    message = str(excinfo.value)
    assert expected in message, message
    assert message.startswith("OpenAI spec violation")


def test_failure_carries_errors_and_json_paths() -> None:
    obj = chat_completion()
    obj["created"] = "x"
    obj["object"] = "nope"
    with pytest.raises(OpenAPIValidationError) as excinfo:
        validate_chat_completion(obj)
    err = excinfo.value
    assert isinstance(err, AssertionError)
    assert err.schema_name == "CreateChatCompletionResponse"
    assert len(err.errors) == 2
    assert "$.created" in str(err) and "$.object" in str(err)


def test_validate_by_any_schema_name() -> None:
    validate("CompletionUsage", {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    with pytest.raises(AssertionError):
        validate("CompletionUsage", {"prompt_tokens": 1})


# ------------------------------------------------------------------------------------------
# Conversion of OpenAPI 3.0-isms (on small synthetic documents: fast and exact)
# ------------------------------------------------------------------------------------------


def _doc(schemas: Json) -> Json:
    return {"openapi": "3.1.0", "components": {"schemas": schemas}}


def _validator(document: Json, name: str) -> Draft202012Validator:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:t", DRAFT202012.create_resource(document))
    return Draft202012Validator({"$ref": f"urn:t#/components/schemas/{name}"}, registry=registry)


def test_nullable_enum_accepts_null_only_in_addition() -> None:
    doc = openapi.convert_document(
        _doc({"F": {"type": "string", "enum": ["stop"], "nullable": True, "description": "d"}})
    )
    v = _validator(doc, "F")
    assert v.is_valid(None) and v.is_valid("stop")
    assert not v.is_valid("bogus") and not v.is_valid(1)
    assert doc["components"]["schemas"]["F"]["description"] == "d"


def test_nullable_ref_sibling_and_allof_marker() -> None:
    doc = openapi.convert_document(
        _doc(
            {
                "U": {
                    "type": "object",
                    "required": ["n", "n"],
                    "properties": {"n": {"type": "integer"}},
                },
                "R": {"$ref": "#/components/schemas/U", "nullable": True},
                "A": {"allOf": [{"$ref": "#/components/schemas/U"}, {"nullable": True}]},
                "N": {"type": "integer", "nullable": False},
            }
        )
    )
    schemas = doc["components"]["schemas"]
    assert schemas["U"]["required"] == ["n"]
    for name in ("R", "A"):
        v = _validator(doc, name)
        assert v.is_valid(None) and v.is_valid({"n": 1}), name
        assert not v.is_valid({}) and not v.is_valid({"n": "1"}), name
    n = _validator(doc, "N")
    assert n.is_valid(1) and not n.is_valid(None)


def test_exclusive_minimum_and_recursive_ref_converted() -> None:
    doc = openapi.convert_document(
        _doc(
            {
                "P": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                "C": {
                    "$recursiveAnchor": True,
                    "type": "object",
                    "required": ["filters"],
                    "properties": {"filters": {"type": "array", "items": {"$recursiveRef": "#"}}},
                },
            }
        )
    )
    p = _validator(doc, "P")
    assert p.is_valid(0.5) and not p.is_valid(0)
    c = _validator(doc, "C")
    assert c.is_valid({"filters": [{"filters": []}]})
    assert not c.is_valid({"filters": [{"nope": 1}]})  # recursion really checks nested items


def test_converted_spec_has_no_openapi30_leftovers() -> None:
    def walk(node: object) -> Iterator[Json]:
        if isinstance(node, dict):
            yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    leftovers = []
    for node in walk(openapi.load_spec_document()["components"]["schemas"]):
        if isinstance(node.get("nullable"), bool):
            leftovers.append("nullable")
        required = node.get("required")
        if isinstance(required, list) and len(required) != len(set(required)):
            leftovers.append(f"duplicate required {required}")
        if isinstance(node.get("exclusiveMinimum"), bool) or "$recursiveRef" in node:
            leftovers.append("draft-incompatible keyword")
    assert leftovers == []


# ------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------


def test_cache_file_is_written_then_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "openapi: 3.1.0\ncomponents:\n  schemas:\n"
        "    X:\n      type: string\n      nullable: true\n"
    )
    first = openapi._load_document(spec)
    cache_file = openapi.cache_path_for(spec)
    assert cache_file is not None and cache_file.parent == tmp_path / "cache" / "relayport"
    assert json.loads(cache_file.read_text()) == first

    def no_yaml(data: bytes) -> object:
        raise AssertionError("YAML parsed although a cache file exists")

    monkeypatch.setattr(openapi, "_parse_yaml", no_yaml)
    assert openapi._load_document(spec) == first

    # Different content -> different sha256 -> cache miss, YAML parsed again.
    spec.write_text(spec.read_text() + "    Y:\n      type: integer\n")
    with pytest.raises(AssertionError, match="YAML parsed"):
        openapi._load_document(spec)


def test_corrupt_cache_file_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.1.0\ncomponents:\n  schemas:\n    X:\n      type: string\n")
    openapi._load_document(spec)
    cache_file = openapi.cache_path_for(spec)
    assert cache_file is not None
    cache_file.write_text('{"truncated": ')
    # A cache of the same spec from an older converter is pruned when the cache is rewritten.
    stale = cache_file.with_name(
        cache_file.name.replace(cache_file.name.split(".")[2], "0ld0c0nverter")
    )
    stale.write_text("{}")
    assert openapi._load_document(spec)["components"]["schemas"]["X"] == {"type": "string"}
    assert json.loads(cache_file.read_text())["components"]["schemas"]["X"] == {"type": "string"}
    assert not stale.exists()


def test_real_spec_is_cached_and_loads_fast() -> None:
    spec = openapi.find_spec()
    memoised = openapi.load_spec_document()  # writes the cache if this is the first run
    assert openapi.cache_path_for(spec) is not None
    start = time.perf_counter()
    fresh = openapi._load_document(spec)  # bypasses the in-process memo; reads the cache file
    elapsed = time.perf_counter() - start
    assert fresh == memoised
    # A warm load reads the converted cache instead of parsing the 3 MB YAML. The margin is for a
    # loaded CI machine.
    assert elapsed < 3.0, f"warm load took {elapsed:.2f}s; is the cache being used?"
    assert openapi.load_spec_document() is memoised
    assert openapi.validator_for("ErrorResponse") is openapi.validator_for("ErrorResponse")
