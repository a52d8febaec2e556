"""Provider request shapes per `/ctx` API format, and reading the reply text back.

`build_request` lays a compiled chat prompt out as the body the format's provider
expects (`openai.chat` → `{"model", "messages", ...}`); `reply_text` decodes a response
body (`<id>.resp.json`) of that format with msgspec and returns the reply text.
"""

from __future__ import annotations

import msgspec

from ._definition import API_FORMATS, ApiFormat, ChatParams
from ._errors import MalformedResponse
from ._templates import Bound


def build_request(
    fmt: ApiFormat, model: str, system: Bound | None, user: Bound, params: ChatParams
) -> dict[str, Bound]:
    """The request body for `fmt`; `system`/`user` are compiled templates."""
    body: dict[str, Bound] = {"model": model}
    if fmt == "openai.chat":
        messages: list[Bound] = []
        if system is not None:
            messages.append(_object(role="system", content=system))
        messages.append(_object(role="user", content=user))
        body["messages"] = messages
        _put(body, "temperature", params.temperature)
        _put(body, "max_tokens", params.max_tokens)
    elif fmt == "openai.responses":
        body["input"] = user
        _put(body, "instructions", system)
        _put(body, "temperature", params.temperature)
        _put(body, "max_output_tokens", params.max_tokens)
    elif fmt == "anthropic.messages":
        _put(body, "system", system)
        body["messages"] = [_object(role="user", content=user)]
        # Anthropic requires max_tokens; 1024 is its documented example value.
        body["max_tokens"] = params.max_tokens if params.max_tokens is not None else 1024
        _put(body, "temperature", params.temperature)
    else:  # google.generate_content
        body["contents"] = [_object(role="user", parts=[_object(text=user)])]
        if system is not None:
            body["systemInstruction"] = _object(parts=[_object(text=system)])
        config: dict[str, Bound] = {}
        _put(config, "temperature", params.temperature)
        _put(config, "maxOutputTokens", params.max_tokens)
        if config:
            body["generationConfig"] = config
    return body


def _object(**fields: Bound) -> Bound:
    return dict(fields)


def _put(body: dict[str, Bound], key: str, value: Bound | None) -> None:
    if value is not None:
        body[key] = value


class _ChatMessage(msgspec.Struct):
    content: str | None = None


class _ChatChoice(msgspec.Struct):
    message: _ChatMessage


class _ChatResponse(msgspec.Struct):
    choices: list[_ChatChoice]


class _TextBlock(msgspec.Struct):
    type: str
    text: str = ""


class _ResponsesItem(msgspec.Struct):
    content: list[_TextBlock] = []


class _ResponsesResponse(msgspec.Struct):
    output: list[_ResponsesItem] = []
    output_text: str | None = None


class _AnthropicResponse(msgspec.Struct):
    content: list[_TextBlock]


class _GooglePart(msgspec.Struct):
    text: str = ""


class _GoogleContent(msgspec.Struct):
    parts: list[_GooglePart] = []


class _GoogleCandidate(msgspec.Struct):
    content: _GoogleContent


class _GoogleResponse(msgspec.Struct):
    candidates: list[_GoogleCandidate]


def api_format(name: str) -> ApiFormat:
    """`name` as an API format, or MalformedResponse (a resolved step names a bad one)."""
    for fmt in API_FORMATS:
        if fmt == name:
            return fmt
    raise MalformedResponse(f"{name!r} is not an API format; use one of {', '.join(API_FORMATS)}")


def reply_text(fmt: ApiFormat, body: bytes) -> str:
    """The reply text of a response body of `fmt`; raises MalformedResponse."""
    try:
        if fmt == "openai.chat":
            chat = msgspec.json.decode(body, type=_ChatResponse)
            if not chat.choices:
                raise MalformedResponse("openai.chat response has no choices")
            return chat.choices[0].message.content or ""
        if fmt == "openai.responses":
            resp = msgspec.json.decode(body, type=_ResponsesResponse)
            if resp.output_text is not None:
                return resp.output_text
            return "".join(
                b.text for item in resp.output for b in item.content if b.type == "output_text"
            )
        if fmt == "anthropic.messages":
            msg = msgspec.json.decode(body, type=_AnthropicResponse)
            return "".join(b.text for b in msg.content if b.type == "text")
        gen = msgspec.json.decode(body, type=_GoogleResponse)
        if not gen.candidates:
            raise MalformedResponse("google.generate_content response has no candidates")
        return "".join(p.text for p in gen.candidates[0].content.parts)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise MalformedResponse(f"{fmt} response is malformed: {exc}") from None
    except RecursionError:
        raise MalformedResponse(f"{fmt} response nests too deeply") from None
