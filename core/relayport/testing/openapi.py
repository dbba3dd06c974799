"""Validate relayport's OpenAI-compatible wire objects against OpenAI's published OpenAPI spec.

The spec is OpenAI's own ``openapi.yaml`` (OpenAPI 3.1.0, info.version 2.3.0), shipped as
package data of the test kit (``relayport/testing/specs/``, origin noted in its README), so the
validation works from a plain install and from any clone.  ``RELAYPORT_OPENAI_SPEC`` points it
at another copy (a newer spec, say).

Usage in tests::

    from relayport.testing.openapi import validate, validate_chat_chunk

    validate_chat_chunk(chunk)                      # raises AssertionError on mismatch
    validate("CreateCompletionResponse", obj)       # any schema in components/schemas

Schema names used by the convenience helpers (all verified to exist in the spec,
``components/schemas/<name>``):

=========================  =====================================
helper                     schema
=========================  =====================================
validate_chat_completion   ``CreateChatCompletionResponse``
validate_chat_chunk        ``CreateChatCompletionStreamResponse``
validate_error             ``ErrorResponse`` (-> ``Error``)
validate_models_list       ``ListModelsResponse``
validate_model             ``Model``
validate_embeddings        ``CreateEmbeddingResponse``
validate_image             ``ImagesResponse``
validate_response          ``Response``
validate_response_event    the ``Response*Event`` named by the event's ``type`` (one of
                           ``ResponseStreamEvent``'s branches)
validate_response_stream   every event of a raw Responses SSE body, plus the framing:
                           ``event:`` line equals ``type``, ``sequence_number`` 0, 1, 2 ...
validate_response_items    ``ResponseItemList`` (``GET /v1/responses/{id}/input_items``)
=========================  =====================================

Spec quirks handled by the conversion to JSON Schema Draft 2020-12 (generic, applied to the
whole document; the spec file itself is never modified):

* ``nullable: true`` (OpenAPI 3.0 keyword, ~111 places in this 3.1 document, e.g. the stream
  chunk's ``finish_reason``/``logprobs``/``usage``) is rewritten to
  ``{"anyOf": [<schema>, {"type": "null"}]}``.  This is correct next to ``enum`` (null is not
  in the enum), ``$ref`` siblings and ``anyOf``/``oneOf``.  ``allOf: [{$ref: X}, {nullable:
  true}]`` (8 places, Assistants/Runs/Uploads) makes the *parent* nullable.
  ``nullable: false`` is dropped.
* ``required`` lists are de-duplicated (``ContainerResource.required`` has duplicates, which
  the 2020-12 metaschema forbids).
* OpenAPI-3.0 boolean ``exclusiveMinimum: true`` + ``minimum: n`` (7 places, fine-tuning
  hyperparameters) becomes the 2020-12 numeric ``exclusiveMinimum: n``.
* Draft 2019-09 ``$recursiveAnchor``/``$recursiveRef: "#"`` (``CompoundFilter``,
  ``BetaCompoundFilter``) become a plain ``$ref`` to the component itself; 2020-12 would
  silently ignore them.
* YAML dates inside examples become ISO strings so the document is plain JSON.

OpenAPI-only keywords (``discriminator``, ``xml``, ``example``, ``x-*``) are left in place;
Draft 2020-12 ignores unknown keywords.  ``format`` is not asserted (the spec uses
non-standard formats such as ``unixtime``).

Fields stricter than reality (``_NULLABLE_PATCHES``): OpenAI's own response examples in the
spec were run through these validators; where they show a ``null`` the schema forbids, the
field is made nullable:

* ``system_fingerprint`` in ``CreateChatCompletionResponse`` and
  ``CreateChatCompletionStreamResponse`` (the POST /chat/completions "Logprobs" example has
  ``"system_fingerprint": null``);
* ``tool_calls`` and ``function_call`` in ``ChatCompletionResponseMessage`` (the
  GET /chat/completions example of stored completions has both as ``null``).

Deliberately *not* loosened, although three examples in the spec omit them: the assistant
message's required ``refusal`` and the choice logprobs' required ``refusal`` -- the current
POST /chat/completions examples ("Default", "Image input") send ``"refusal": null``, the
openai SDKs read it, and a gateway that always emits it is compatible with both readings.
Also left strict: ``ImagesResponse.size``/``quality`` enums (GPT-image values only).

Loading: parsing the 3 MB YAML takes ~1.5 s even with libyaml, so the converted document is
cached as JSON under ``$XDG_CACHE_HOME/relayport`` (else ``~/.cache/relayport``, else a
per-user temp dir), keyed by the sha256 of the spec and of this module's source; a warm load
is a ``json.load`` of ~2 MB.  Everything is also memoised per process.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SCHEMA_CHAT_CHUNK",
    "SCHEMA_CHAT_COMPLETION",
    "SCHEMA_EMBEDDINGS",
    "SCHEMA_ERROR",
    "SCHEMA_IMAGES",
    "SCHEMA_MODEL",
    "SCHEMA_MODELS_LIST",
    "SPEC_ENV_VAR",
    "SPEC_RELATIVE_PATH",
    "OpenAPIValidationError",
    "SpecNotFoundError",
    "cache_path_for",
    "convert_document",
    "find_spec",
    "load_spec_document",
    "schema_names",
    "validate",
    "validate_chat_chunk",
    "validate_chat_completion",
    "validate_embeddings",
    "validate_error",
    "validate_image",
    "validate_response",
    "validate_response_event",
    "validate_response_items",
    "validate_response_stream",
    "validate_model",
    "validate_models_list",
    "validator_for",
]

SPEC_ENV_VAR: Final = "RELAYPORT_OPENAI_SPEC"
SPEC_RELATIVE_PATH: Final = Path("shared", "specs", "openai-openapi.yaml")
PACKAGED_SPEC: Final = Path(__file__).parent / "specs" / "openai-openapi.yaml"

SCHEMA_CHAT_COMPLETION: Final = "CreateChatCompletionResponse"
SCHEMA_CHAT_CHUNK: Final = "CreateChatCompletionStreamResponse"
SCHEMA_ERROR: Final = "ErrorResponse"
SCHEMA_MODELS_LIST: Final = "ListModelsResponse"
SCHEMA_MODEL: Final = "Model"
SCHEMA_EMBEDDINGS: Final = "CreateEmbeddingResponse"
SCHEMA_IMAGES: Final = "ImagesResponse"
SCHEMA_RESPONSE: Final = "Response"
SCHEMA_RESPONSE_EVENT: Final = "ResponseStreamEvent"
SCHEMA_RESPONSE_ITEMS: Final = "ResponseItemList"

# Part of the cache key besides the spec's hash.  The module's own source is hashed too (see
# _converter_fingerprint), so an edited converter never reuses a stale cache even if nobody
# bumps this; the constant only matters where the source cannot be read (zipped installs).
_CONVERTER_VERSION: Final = 3

# The whole converted document is registered under this URI; every "#/components/schemas/X"
# inside it then resolves against the document root, exactly as in the OpenAPI file.
_BASE_URI: Final = "urn:relayport:openai-openapi"

# Fields the spec types more strictly than what the real API sends, made nullable after
# conversion: (schema name, path of keys from that schema to the field's subschema).  Only
# fields for which OpenAI's *own* response examples in this spec show a null are listed; the
# openai-python SDK types all of them Optional[...] as well.
_NULLABLE_PATCHES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    # POST /chat/completions "Logprobs" example response: "system_fingerprint": null.
    ("CreateChatCompletionResponse", ("properties", "system_fingerprint")),
    # Same deprecated field, same backends, in the streamed form of that response.
    ("CreateChatCompletionStreamResponse", ("properties", "system_fingerprint")),
    # GET /chat/completions example (stored chat.completion objects): the assistant message
    # carries "tool_calls": null and "function_call": null when no call was made.
    ("ChatCompletionResponseMessage", ("properties", "tool_calls")),
    ("ChatCompletionResponseMessage", ("properties", "function_call")),
)

# Keywords whose value is a single subschema / a list of subschemas / a map of name -> subschema.
_SCHEMA_KEYWORDS: Final = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "additionalItems",
    }
)
_SCHEMA_LIST_KEYWORDS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP_KEYWORDS: Final = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
# Keys that only describe a schema; they stay on the outer wrapper when nullable is rewritten.
_ANNOTATION_KEYWORDS: Final = frozenset(
    {
        "title",
        "description",
        "deprecated",
        "default",
        "example",
        "examples",
        "readOnly",
        "writeOnly",
    }
)

_MAX_REPORTED_ERRORS: Final = 5
_MAX_MESSAGE_CHARS: Final = 400


class SpecNotFoundError(FileNotFoundError):
    """The OpenAI OpenAPI spec could not be located (tests must fail, not skip, on this)."""


class OpenAPIValidationError(AssertionError):
    """An instance does not match its OpenAI schema.  ``errors`` holds the jsonschema errors."""

    def __init__(self, message: str, schema_name: str, errors: list[ValidationError]) -> None:
        super().__init__(message)
        self.schema_name = schema_name
        self.errors = errors


# --------------------------------------------------------------------------------------------
# Locating the spec
# --------------------------------------------------------------------------------------------


def _ancestors(start: Path) -> Iterator[Path]:
    start = start.resolve()
    yield start
    yield from start.parents


def find_spec() -> Path:
    """Return the path of ``openai-openapi.yaml``.

    ``$RELAYPORT_OPENAI_SPEC`` wins if set (and must exist).  Otherwise the copy shipped in
    this package; failing that (a trimmed install), ``shared/specs/openai-openapi.yaml`` in any
    ancestor of the working directory or of this file.
    """
    override = os.environ.get(SPEC_ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise SpecNotFoundError(f"${SPEC_ENV_VAR} points to {path}, which is not a file")
        return path.resolve()

    if PACKAGED_SPEC.is_file():
        return PACKAGED_SPEC
    searched: list[Path] = []
    for start in (Path.cwd(), Path(__file__).parent):
        for directory in _ancestors(start):
            candidate = directory / SPEC_RELATIVE_PATH
            if candidate in searched:
                continue
            searched.append(candidate)
            if candidate.is_file():
                return candidate
    raise SpecNotFoundError(
        f"OpenAI OpenAPI spec not found: no {SPEC_RELATIVE_PATH} in any parent of "
        f"{Path.cwd()} or {Path(__file__).parent}, and the packaged copy {PACKAGED_SPEC} is "
        f"missing; set ${SPEC_ENV_VAR} to the spec file."
    )


# --------------------------------------------------------------------------------------------
# OpenAPI 3.0-isms -> JSON Schema 2020-12
# --------------------------------------------------------------------------------------------


def _plain(node: object) -> object:
    """Copy instance data (examples, enums, defaults) making it JSON-compatible, nothing else."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, (_dt.date, _dt.datetime)):  # PyYAML turns 2024-10-01 into a date
        return node.isoformat()
    return node


def _is_nullable_marker(node: object) -> bool:
    """``{nullable: true}`` with nothing but annotations -- the ``allOf`` idiom of OpenAPI 3.0."""
    return (
        isinstance(node, dict)
        and node.get("nullable") is True
        and all(k == "nullable" or k in _ANNOTATION_KEYWORDS for k in node)
    )


def _convert_schema(node: object, component: str | None = None) -> object:
    """Convert one schema object (recursively) from OpenAPI 3.0/3.1 mix to Draft 2020-12.

    ``component`` is the name of the ``components/schemas`` entry being converted; it is the
    target of that entry's draft 2019-09 ``$recursiveRef: "#"``.
    """
    if not isinstance(node, dict):
        return _plain(node)  # boolean schemas, or malformed entries kept verbatim

    out: dict[str, Any] = {}
    nullable = False
    for key, value in node.items():
        if key == "nullable":
            # Only a boolean is the keyword; anything else cannot appear at schema level.
            nullable = value is True
            continue
        if key == "$recursiveAnchor":
            continue  # 2019-09 keyword; its only use is paired with the $recursiveRef below
        if key == "$recursiveRef" and value == "#" and component is not None:
            # CompoundFilter/BetaCompoundFilter use 2019-09 recursion, which 2020-12 ignores
            # (nested filters would go unchecked); "#" means the anchored component itself.
            out["$ref"] = f"#/components/schemas/{component}"
            continue
        if key in _SCHEMA_KEYWORDS:
            out[key] = _convert_schema(value, component)
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            members = value
            if key == "allOf":
                # allOf: [{$ref: X}, {nullable: true}] means "X or null" in the spec's intent;
                # literally, the marker member accepts everything and X still rejects null.
                markers = [m for m in members if _is_nullable_marker(m)]
                if markers:
                    nullable = True
                    members = [m for m in members if not _is_nullable_marker(m)]
                    for marker in markers:
                        if "description" in marker and "description" not in node:
                            out["description"] = marker["description"]
            out[key] = [_convert_schema(m, component) for m in members]
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {str(name): _convert_schema(sub, component) for name, sub in value.items()}
        elif key == "required" and isinstance(value, list):
            # Duplicates (ContainerResource) violate the 2020-12 metaschema; order is kept.
            out[key] = list(dict.fromkeys(value))
        else:
            out[key] = _plain(value)

    # OpenAPI 3.0 boolean exclusive bounds -> 2020-12 numeric ones.
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and bound in out:
                out[exclusive] = out.pop(bound)

    if not nullable:
        return out
    wrapper = {k: v for k, v in out.items() if k in _ANNOTATION_KEYWORDS or k.startswith("x-")}
    inner = {k: v for k, v in out.items() if k not in wrapper}
    if not inner:
        return wrapper  # no constraints at all: null is already accepted
    # anyOf (not a "null" type-list entry) is the one form that is right for every shape of
    # inner schema: enum without null, $ref, const, anyOf/oneOf, or no "type" at all.
    wrapper["anyOf"] = [inner, {"type": "null"}]
    return wrapper


def _convert_openapi(node: object, parent_key: str | None) -> object:
    """Walk the non-schema OpenAPI structure, handing every embedded schema to _convert_schema."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            key = str(key)
            if key == "schema":  # parameters, media types, headers
                out[key] = _convert_schema(value)
            elif key == "schemas" and parent_key == "components" and isinstance(value, dict):
                out[key] = {str(n): _convert_schema(s, str(n)) for n, s in value.items()}
            elif key in {"example", "examples"} or key.startswith("x-"):
                out[key] = _plain(value)
            else:
                out[key] = _convert_openapi(value, key)
        return out
    if isinstance(node, list):
        return [_convert_openapi(v, parent_key) for v in node]
    return _plain(node)


def convert_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return a JSON-compatible copy of an OpenAPI document whose schemas are Draft 2020-12."""
    converted = _convert_openapi(dict(document), None)
    if not isinstance(converted, dict):  # cannot happen for a dict input; narrows the type
        raise TypeError("an OpenAPI document must be a mapping")
    schemas = converted.get("components", {}).get("schemas", {})
    for name, path in _NULLABLE_PATCHES:
        parent = schemas.get(name)
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        field = parent.get(path[-1]) if isinstance(parent, dict) else None
        if not isinstance(field, dict):
            continue  # a future spec revision moved the field; nothing to loosen
        if isinstance(parent, dict) and not _accepts_null_shallow(field):
            parent[path[-1]] = _convert_schema({**field, "nullable": True})
    return converted


def _accepts_null_shallow(schema: Mapping[str, Any]) -> bool:
    """True if the spec already allows null here (so a newer spec needs no patch)."""
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    return any(isinstance(b, dict) and b.get("type") == "null" for b in branches)


# --------------------------------------------------------------------------------------------
# Loading with an on-disk cache
# --------------------------------------------------------------------------------------------


def _cache_dirs() -> Iterator[Path]:
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        yield Path(xdg) / "relayport"
    yield Path.home() / ".cache" / "relayport"
    # Per-user name so a shared /tmp cannot serve another user's (possibly tampered) file.
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    yield Path(tempfile.gettempdir()) / f"relayport-cache-{uid}"


@functools.cache
def _converter_fingerprint() -> bytes:
    try:
        return Path(__file__).read_bytes()
    except OSError:
        return f"v{_CONVERTER_VERSION}".encode()


def _cache_filename(spec_bytes: bytes) -> str:
    digest = hashlib.sha256(spec_bytes).hexdigest()[:32]
    converter = hashlib.sha256(_converter_fingerprint()).hexdigest()[:12]
    return f"openai-openapi.{digest}.{converter}.v{_CONVERTER_VERSION}.json"


def cache_path_for(spec_path: Path) -> Path | None:
    """The cache file currently holding ``spec_path``'s converted document, if there is one."""
    name = _cache_filename(spec_path.read_bytes())
    for directory in _cache_dirs():
        if (directory / name).is_file():
            return directory / name
    return None


def _parse_yaml(data: bytes) -> object:
    # libyaml's loader is ~5x faster than the pure-Python one on this 3 MB file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data, Loader=loader)  # noqa: S506 - CSafeLoader/SafeLoader only


def _read_cache(name: str) -> dict[str, Any] | None:
    for directory in _cache_dirs():
        path = directory / name
        try:
            with path.open("rb") as fh:
                document = json.load(fh)
        except (OSError, ValueError):
            continue  # absent, unreadable or truncated: try the next place, else rebuild
        if isinstance(document, dict):
            return document
    return None


def _write_cache(name: str, document: dict[str, Any]) -> None:
    payload = json.dumps(document, separators=(",", ":")).encode()
    for directory in _cache_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Write-then-rename so parallel test workers never read a half-written file.
            fd, tmp = tempfile.mkstemp(prefix=name, suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, directory / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _prune_stale(directory, name)
            return
        except OSError:
            continue  # read-only home etc.: try the next location; no cache is not fatal


def _prune_stale(directory: Path, current: str) -> None:
    """Drop caches of the same spec built by an older converter (each edit would add ~2 MB).

    Caches of other spec versions are kept: another checkout may still use them.
    """
    spec_part = current.split(".")[1]
    for old in directory.glob(f"openai-openapi.{spec_part}.*.json"):
        if old.name != current:
            old.unlink(missing_ok=True)


def _load_document(spec_path: Path) -> dict[str, Any]:
    """Converted document for ``spec_path``, from the JSON cache when its sha256 matches."""
    data = spec_path.read_bytes()
    name = _cache_filename(data)
    cached = _read_cache(name)
    if cached is not None:
        return cached
    raw = _parse_yaml(data)
    if not isinstance(raw, dict) or "components" not in raw:
        raise ValueError(f"{spec_path} does not look like an OpenAPI document")
    document = convert_document(raw)
    _write_cache(name, document)
    return document


@functools.cache
def _document_at(spec_path: Path) -> dict[str, Any]:
    return _load_document(spec_path)


def load_spec_document(spec_path: Path | None = None) -> dict[str, Any]:
    """The whole converted OpenAPI document (memoised; treat it as read-only)."""
    return _document_at((spec_path or find_spec()).resolve())


@functools.cache
def _registry(spec_path: Path) -> Registry[Any]:
    resource = DRAFT202012.create_resource(_document_at(spec_path))
    registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
    return registry


def schema_names() -> list[str]:
    """All names under ``components/schemas``."""
    return sorted(load_spec_document()["components"]["schemas"])


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@functools.cache
def validator_for(schema_name: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for ``components/schemas/<schema_name>`` (memoised)."""
    spec_path = find_spec().resolve()
    schemas = _document_at(spec_path)["components"]["schemas"]
    if schema_name not in schemas:
        close = difflib.get_close_matches(schema_name, list(schemas), n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no schema {schema_name!r} in {spec_path}{hint}")
    # A $ref into the registered document (rather than the subschema itself) keeps the base
    # URI at the document root, so nested "#/components/schemas/..." refs resolve.
    return Draft202012Validator(
        {"$ref": f"{_BASE_URI}#/components/schemas/{schema_name}"},
        registry=_registry(spec_path),
    )


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _MAX_MESSAGE_CHARS:
        return text
    return text[: _MAX_MESSAGE_CHARS - 5] + " ..."


def _describe(error: ValidationError) -> str:
    schema_path = "/".join(str(p) for p in error.absolute_schema_path)
    return f"at {error.json_path}: {_shorten(error.message)}  [schema: {schema_path}]"


def _branch_rank(errors: list[ValidationError]) -> tuple[bool, bool, int]:
    """Lower is a likelier intended branch of an anyOf/oneOf."""
    # A const/enum miss on a direct property ("type", "object") means the instance is tagged
    # as a different variant; a type miss on the instance itself (e.g. the {"type": "null"}
    # branch of a nullable field) means the branch is not meant at all.
    tag_mismatch = any(
        e.validator in ("const", "enum") and len(e.relative_path) == 1 for e in errors
    )
    type_mismatch = any(e.validator == "type" and not e.relative_path for e in errors)
    return (tag_mismatch, type_mismatch, len(errors))


def _descend(error: ValidationError) -> ValidationError:
    """Follow anyOf/oneOf failures into the branch the instance most plausibly meant.

    jsonschema's best_match picks the *deepest* error among all branches, which for tagged
    unions (tool calls, content parts) reports "'function' is not one of ['custom']" from the
    wrong variant instead of the missing field in the right one.
    """
    while error.context:
        branches: defaultdict[Any, list[ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        chosen = min(branches.values(), key=_branch_rank)
        error = max(chosen, key=relevance)  # shallowest, strongest error within that branch
    return error


def _format_failure(schema_name: str, errors: Iterable[ValidationError]) -> str:
    ranked = sorted(errors, key=relevance, reverse=True)  # most relevant first
    shown = [_descend(e) for e in ranked[:_MAX_REPORTED_ERRORS]]
    lines = [f"OpenAI spec violation ({schema_name}, {len(ranked)} error(s)):"]
    lines += [f"  {_describe(e)}" for e in shown]
    if len(ranked) > len(shown):
        lines.append(f"  ... and {len(ranked) - len(shown)} more")
    return "\n".join(lines)


def validate(schema_name: str, instance: object) -> None:
    """Raise :class:`OpenAPIValidationError` (an ``AssertionError``) if ``instance`` mismatches."""
    errors = list(validator_for(schema_name).iter_errors(instance))
    if errors:
        raise OpenAPIValidationError(_format_failure(schema_name, errors), schema_name, errors)


def validate_chat_completion(obj: object) -> None:
    """A non-streaming ``chat.completion`` response body."""
    validate(SCHEMA_CHAT_COMPLETION, obj)


def validate_chat_chunk(obj: object) -> None:
    """One ``chat.completion.chunk`` (the JSON of one SSE ``data:`` line)."""
    validate(SCHEMA_CHAT_CHUNK, obj)


def validate_error(obj: object) -> None:
    """An error envelope ``{"error": {"message", "type", "param", "code"}}``."""
    validate(SCHEMA_ERROR, obj)


def validate_models_list(obj: object) -> None:
    """``GET /v1/models`` response."""
    validate(SCHEMA_MODELS_LIST, obj)


def validate_model(obj: object) -> None:
    """``GET /v1/models/{model}`` response."""
    validate(SCHEMA_MODEL, obj)


def validate_embeddings(obj: object) -> None:
    """``POST /v1/embeddings`` response."""
    validate(SCHEMA_EMBEDDINGS, obj)


def validate_image(obj: object) -> None:
    """``POST /v1/images/generations`` (and edits/variations) response."""
    validate(SCHEMA_IMAGES, obj)


def validate_response(obj: object) -> None:
    """A ``Response`` object (``POST``/``GET /v1/responses``, and inside stream events)."""
    validate(SCHEMA_RESPONSE, obj)


def validate_response_items(obj: object) -> None:
    """``GET /v1/responses/{id}/input_items`` response."""
    validate(SCHEMA_RESPONSE_ITEMS, obj)


@functools.cache
def _response_event_schemas() -> dict[str, str]:
    """Event ``type`` -> the schema of that event, from the branches of ``ResponseStreamEvent``."""
    schemas = load_spec_document()["components"]["schemas"]
    out: dict[str, str] = {}
    for branch in schemas[SCHEMA_RESPONSE_EVENT]["anyOf"]:
        name = branch["$ref"].rsplit("/", 1)[-1]
        for kind in schemas[name]["properties"]["type"].get("enum", ()):
            out[kind] = name
    return out


def validate_response_event(obj: object) -> None:
    """One Responses stream event, checked against the schema its ``type`` names (an unknown
    type is a failure: a client's SDK would not know it either)."""
    kind = obj.get("type") if isinstance(obj, dict) else None
    name = _response_event_schemas().get(kind) if isinstance(kind, str) else None
    if name is None:
        raise OpenAPIValidationError(f"Not a Responses stream event type: {kind!r}", SCHEMA_RESPONSE_EVENT, [])
    validate(name, obj)


def validate_response_stream(raw: bytes) -> list[dict[str, Any]]:
    """Validate a whole Responses SSE body and return its events' JSON, in order."""
    events: list[dict[str, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        name = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip())
        obj = json.loads(b"\n".join(data))
        if name is not None and name != obj.get("type"):
            raise OpenAPIValidationError(f"event line {name!r} but type {obj.get('type')!r}",
                                         SCHEMA_RESPONSE_EVENT, [])
        if obj.get("sequence_number") != len(events):
            raise OpenAPIValidationError(
                f"event {len(events)} ({obj.get('type')}) has sequence_number {obj.get('sequence_number')!r}",
                SCHEMA_RESPONSE_EVENT, [])
        validate_response_event(obj)
        events.append(obj)
    return events
