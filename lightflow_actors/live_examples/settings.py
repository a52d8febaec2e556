"""Settings: a profile form with per-field errors, an avatar upload, an async panel.

* The form is a msgspec struct (`ProfileForm`): ``to_form`` checks every field as the
  user types (``lf-change``) and shows the errors of the fields the user has touched;
  the submit shows them all.
* The avatar is an upload (``allow_upload``): the browser sends the file in chunks over
  the socket, the list shows each entry's progress and errors, an entry can be
  cancelled, and the submit consumes the file (here: its size and SHA-256 are kept).
* The stats panel is an ``assign_async``: the page shows "loading" at once and the
  numbers when the slow call returns, while the form keeps answering; "reload" loads
  it again (the old numbers stay meanwhile). "Check" runs a ``start_async`` lookup
  whose answer reaches ``handle_async``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import msgspec

from lightflow_actors.live import (
    AssignAsync,
    AsyncResult,
    Form,
    FormEvent,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    StartAsync,
    Template,
    Update,
    Upload,
    UploadEntry,
    allow_upload,
    cancel_upload,
    consume_uploaded_entries,
    keyed,
    live_file_input,
    live_img_preview,
    to_form,
    upload_error_text,
)


class ProfileForm(msgspec.Struct, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=2, max_length=40)]
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    age: Annotated[int, msgspec.Meta(ge=0, le=150)] | None = None


class Avatar(msgspec.Struct, frozen=True):
    """An uploaded avatar, consumed: what the server kept of it."""

    name: str
    size: int
    sha256: str


class Validate(FormEvent, frozen=True, tag="validate"):
    pass


class Save(FormEvent, frozen=True, tag="save"):
    pass


class Cancel(msgspec.Struct, frozen=True, tag="cancel"):
    ref: str = ""


class Reload(msgspec.Struct, frozen=True, tag="reload"):
    pass


class Check(msgspec.Struct, frozen=True, tag="check"):
    pass


class Profile(msgspec.Struct, frozen=True):
    form: Form[ProfileForm]
    avatar: Upload
    stats: AsyncResult[str]
    saved: ProfileForm | None = None
    avatars: tuple[Avatar, ...] = ()
    check: str = ""
    loads: int = 1  # how many times the stats were asked for


FIELD = Template(
    '<label for="f-{name}">{label}</label> '
    '<input id="f-{name}" name="{name}" value="{value}" aria-invalid="{invalid}"> '
    '<span class="error" id="{name}-error">{error}</span><br>'
)
ENTRY = Template(
    '<li id="entry-{ref}">{preview}<span class="file">{file}</span> '
    '<progress value="{progress}" max="100"></progress> <span class="pct">{progress}%</span> '
    '<span class="error">{error}</span> '
    '<button type="button" lf-click="cancel" lf-value-ref="{ref}" id="cancel-{ref}">cancel</button>'
    "</li>"
)
SAVED = Template('<li class="avatar">{name}: {size} bytes, sha256 {digest}</li>')
PAGE = Template(
    '<section class="settings"><h1>Settings</h1>'
    '<form id="profile" lf-change="validate" lf-submit="save">'
    "{name}{email}{age}"
    '<label for="lf-upload-avatar">Avatar</label> {avatar}'
    '<ul id="entries">{entries}</ul><p class="error" id="upload-error">{upload_error}</p>'
    '<button type="submit" id="save">Save</button></form>'
    '<p id="saved">{saved}</p><ul id="avatars">{avatars}</ul>'
    '<p><button id="check" lf-click="check">Check the name</button> '
    '<span id="check-result">{check}</span></p>'
    '<aside id="stats"><h2>Stats</h2><p id="stats-body">{stats}</p>'
    '<button id="reload" lf-click="reload">reload</button></aside></section>'
)

TAKEN = frozenset({"admin", "root"})


class SettingsView(LiveView[Profile, Validate | Save | Cancel | Reload | Check]):
    """`stats_delay`: seconds the stats take to load (a slow service, simulated)."""

    title = "Settings"
    head = "<style>img.preview{max-width:48px;max-height:48px;vertical-align:middle}</style>"

    def __init__(self, *, stats_delay: float = 0.5, max_file_size: int = 2_000_000) -> None:
        self.stats_delay = stats_delay
        self.max_file_size = max_file_size

    def mount(self, params: Params, session: SessionInfo) -> Update[Profile]:
        state = Profile(
            form=to_form(ProfileForm, {}),
            avatar=allow_upload(
                "avatar",
                accept=(".png", ".jpg", ".jpeg", ".gif", ".txt"),
                max_entries=2,
                max_file_size=self.max_file_size,
            ),
            stats=AsyncResult.pending(),
        )
        return Update(state, (self._load_stats(1),))

    def handle_event(
        self, event: Validate | Save | Cancel | Reload | Check, state: Profile
    ) -> Profile | Update[Profile]:
        match event:
            case Validate(params=params):
                return msgspec.structs.replace(state, form=to_form(ProfileForm, params))
            case Save(params=params):
                return self._save(state, params)
            case Cancel(ref=ref):
                return msgspec.structs.replace(state, avatar=cancel_upload(state.avatar, ref))
            case Reload():
                loads = state.loads + 1
                return Update(
                    msgspec.structs.replace(state, loads=loads), (self._load_stats(loads),)
                )
            case Check():
                name = state.form["name"].value
                return Update(
                    msgspec.structs.replace(state, check="checking…"),
                    (StartAsync(name="check", fn=lambda: _lookup(name)),),
                )
        return state

    def handle_async(self, name: str, result: AsyncResult[object], state: Profile) -> Profile:
        text = str(result.result) if result.ok else f"failed: {result.failed}"
        return msgspec.structs.replace(state, check=text)

    def render(self, state: Profile) -> Rendered:
        form = state.form
        entries = [(e.ref, ENTRY(**_entry(state.avatar, e))) for e in state.avatar.entries]
        saved = state.saved
        stats = state.stats
        if stats.failed is not None:
            stats_text = f"could not load the stats: {stats.failed}"
        elif stats.loading:
            stats_text = "loading…" + (f" (last: {stats.result})" if stats.ok else "")
        else:
            stats_text = stats.result or ""
        return PAGE(
            name=_field(form, "name", "Name"),
            email=_field(form, "email", "Email"),
            age=_field(form, "age", "Age"),
            avatar=live_file_input(state.avatar),
            entries=keyed(ENTRY, entries),
            upload_error=" ".join(upload_error_text(k) for k in state.avatar.errors),
            saved=f"Saved {saved.name} <{saved.email}>" if saved is not None else "",
            avatars=keyed(
                SAVED,
                [
                    (a.sha256, SAVED(name=a.name, size=a.size, digest=a.sha256[:16]))
                    for a in state.avatars
                ],
            ),
            check=state.check,
            stats=stats_text,
        )

    # -- internals --------------------------------------------------------------------

    def _load_stats(self, load: int) -> AssignAsync:
        delay = self.stats_delay

        async def stats() -> dict[str, object]:
            await asyncio.sleep(delay)  # a slow service; the session answers events meanwhile
            return {"stats": f"{41 + load} visits"}

        return AssignAsync(keys=("stats",), fn=stats)

    def _save(self, state: Profile, params: Mapping[str, object]) -> Profile:
        form = to_form(ProfileForm, params)
        if form.data is None:
            return msgspec.structs.replace(state, form=form)
        avatars, upload = consume_uploaded_entries(state.avatar, _keep)
        return msgspec.structs.replace(
            state, form=form, saved=form.data, avatar=upload, avatars=state.avatars + tuple(avatars)
        )


def _keep(path: Path, entry: UploadEntry) -> Avatar:
    """Consume one uploaded file: a real app moves it to its storage; this one keeps its
    size and digest (the file is removed after)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Avatar(entry.client_name, path.stat().st_size, digest)


async def _lookup(name: str) -> str:
    await asyncio.sleep(0.05)
    if not name:
        raise ValueError("type a name first")
    return f"{name!r} is taken" if name.lower() in TAKEN else f"{name!r} is free"


def _field(form: Form[ProfileForm], name: str, label: str) -> Rendered:
    field = form[name]
    errors = field.shown_errors
    return FIELD(
        name=name,
        label=label,
        value=field.value,
        invalid="true" if errors else "false",
        error="; ".join(errors),
    )


def _entry(upload: Upload, entry: UploadEntry) -> dict[str, str | int]:
    image = entry.client_type.startswith("image/") and entry.valid
    return {
        "preview": live_img_preview(upload, entry, cls="preview") if image else "",
        "ref": entry.ref,
        "file": entry.client_name,
        "progress": entry.progress,
        "error": " ".join(upload_error_text(k) for k in entry.errors),
    }
