"""Real browser: the Phoenix bindings of client section 11. Page-loading events around
the first join, a live navigation and an `lf-page-loading` element's event; a capture
click that fires although a handler below stops the click; a form with
`lf-trigger-action` submitted over HTTP once a render sets it; a hook's
`pushEventTo` (a component by selector or cid, the view) and `upload` (files a script
made, sent as if chosen in the upload's input, consumed by the view); and an upload
inside a live component, chosen by the user and by a hook's `uploadTo`; an external
upload sent by the page's uploader straight to a (local) bucket URL the view signed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live import (
    LiveComponent,
    LiveHub,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    Upload,
    UploadEntry,
    allow_upload,
    consume_external_entries,
    consume_uploaded_entries,
    live_component,
    live_file_input,
)

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is

__all__ = ["pytestmark"]

HEAD = """<script>
window.pageEvents = [];
for (const phase of ["start", "stop"]) {
  window.addEventListener("lf:page-loading-" + phase,
                          (e) => window.pageEvents.push(phase + ":" + e.detail.kind));
}
window.lightflowLiveOptions = {
  hooks: {Parity: {mounted() { window.parityHook = this; }}},
  uploaders: {Bucket(entries) {
    for (const entry of entries) {
      const xhr = new XMLHttpRequest();
      xhr.upload.onprogress = (e) => e.lengthComputable && entry.progress(e.loaded * 99 / e.total);
      xhr.onload = () => (xhr.status === 200 ? entry.progress(100) : entry.error());
      xhr.onerror = () => entry.error();
      xhr.open("PUT", entry.meta.url);
      xhr.send(entry.file);
    }
  }},
};
</script>"""

PAGE = Template(
    '<div><button id="slow" lf-click="slow" lf-page-loading>slow</button>'
    '<b id="slows">{slows}</b>'
    '<a id="nav" lf-navigate href="parity?again=1">again</a>'
    '<div id="cap" lf-capture-click="captured" lf-click="plain">'
    '<button id="inner" onclick="event.stopPropagation()">inner</button></div>'
    '<b id="captured">{captured}</b> <b id="plain">{plain}</b>'
    '<div id="hooked" lf-hook="Parity">hook</div>{counter}'
    '<form id="docs" lf-submit="save">{input}<button id="save">save</button></form>'
    '<p id="got">{got}</p>{box}'
    '<form id="pics" lf-submit="pics">{pic}<button id="pics-save">save</button></form>'
    '<p id="pics-got">{pics_got}</p>'
    '<form id="login" action="landing" method="post" lf-trigger-action="{trigger}" '
    'lf-submit="arm"><input name="user" value="ann"><button id="arm">log in</button></form>'
    "</div>"
)
COUNTER = Template('<div id="counter" lf-target="{myself}">{n}</div>')
BOX = Template(
    '<form id="box" lf-submit="keep" lf-target="{myself}">{input}'
    '<button id="box-keep">keep</button><p id="box-got">{got}</p></form>'
)


class Keep(msgspec.Struct, frozen=True, tag="keep"):
    pass


class BoxState(msgspec.Struct, frozen=True):
    doc: Upload
    got: tuple[str, ...] = ()


class Box(LiveComponent[None, BoxState, Keep]):
    """A component with an upload of its own (a field of its state)."""

    def mount(self, props: None) -> BoxState:
        return BoxState(allow_upload("doc", accept="any", max_entries=2))

    def update(self, props: None, state: BoxState) -> BoxState:
        return state

    def handle_event(self, event: Keep, state: BoxState) -> BoxState:
        texts, doc = consume_uploaded_entries(state.doc, _read)
        return BoxState(doc, (*state.got, *texts))

    def render(self, state: BoxState, myself: int) -> Rendered:
        return BOX(
            myself=myself,
            input=live_file_input(state.doc, target=myself),
            got=" | ".join(state.got),
        )


BOX_COMPONENT = Box()


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    by: int = 1


class Counter(LiveComponent[int, int, Bump]):
    def mount(self, props: int) -> int:
        return props

    def update(self, props: int, state: int) -> int:
        return state

    def handle_event(self, event: Bump, state: int) -> int:
        return state + event.by

    def render(self, state: int, myself: int) -> Rendered:
        return COUNTER(n=state, myself=myself)


COUNTER_COMPONENT = Counter()


BUCKET: dict[str, bytes] = {}  # what the bucket route received, by key


class State(msgspec.Struct, frozen=True):
    doc: Upload
    pic: Upload
    slows: int = 0
    captured: int = 0
    plain: int = 0
    hellos: int = 0
    got: str = ""
    trigger: str = "false"
    pics_got: str = ""


class Slow(msgspec.Struct, frozen=True, tag="slow"):
    pass


class Captured(msgspec.Struct, frozen=True, tag="captured"):
    pass


class Plain(msgspec.Struct, frozen=True, tag="plain"):
    pass


class Hello(msgspec.Struct, frozen=True, tag="hello"):
    pass


class Save(msgspec.Struct, frozen=True, tag="save"):
    pass


class Arm(msgspec.Struct, frozen=True, tag="arm"):
    user: str = ""


class Pics(msgspec.Struct, frozen=True, tag="pics"):
    pass


Event = Slow | Captured | Plain | Hello | Save | Arm | Pics


def _from_bucket(meta: Mapping[str, object], entry: UploadEntry) -> str:
    return f"{entry.client_name}: {BUCKET[str(meta['key'])].decode()}"


def _read(path: Path, entry: object) -> str:
    return f"{getattr(entry, 'client_name', '?')}: {path.read_text()}"


class ParityView(LiveView[State, Event]):
    head = HEAD

    def mount(self, params: Params, session: SessionInfo) -> State:
        return State(
            doc=allow_upload("doc", accept="any"),
            pic=allow_upload("pic", accept="any", external=True),
        )

    def presign_upload(
        self, upload: str, entry: UploadEntry, state: State
    ) -> Mapping[str, object] | None:
        key = f"k{entry.ref}"
        return {"uploader": "Bucket", "url": f"bucket/{key}", "key": key}

    def handle_event(self, event: Event, state: State) -> State:
        replace = msgspec.structs.replace
        if isinstance(event, Slow):
            return replace(state, slows=state.slows + 1)
        if isinstance(event, Captured):
            return replace(state, captured=state.captured + 1)
        if isinstance(event, Plain):
            return replace(state, plain=state.plain + 1)
        if isinstance(event, Hello):
            return replace(state, hellos=state.hellos + 1, got=f"hello {state.hellos + 1}")
        if isinstance(event, Save):
            texts, doc = consume_uploaded_entries(state.doc, _read)
            return replace(state, doc=doc, got=" ".join(texts))
        if isinstance(event, Pics):
            texts, pic = consume_external_entries(state.pic, _from_bucket)
            return replace(state, pic=pic, pics_got=" ".join(texts))
        return replace(state, trigger="true")  # the form goes to its action over HTTP

    def render(self, state: State) -> Rendered:
        return PAGE(
            slows=state.slows,
            captured=state.captured,
            plain=state.plain,
            counter=live_component(COUNTER_COMPONENT, "c", 0),
            box=live_component(BOX_COMPONENT, "box", None),
            input=live_file_input(state.doc),
            got=state.got,
            trigger=state.trigger,
            pic=live_file_input(state.pic),
            pics_got=state.pics_got,
        )


async def bucket(request: Request) -> PlainTextResponse:
    BUCKET[request.path_params["key"]] = await request.body()
    return PlainTextResponse("stored")


async def landing(request: Request) -> PlainTextResponse:
    form = parse_qs((await request.body()).decode())
    return PlainTextResponse(f"landed as {form.get('user', ['?'])[0]}")


async def test_page_loading_capture_click_trigger_action_and_hook_push_to_and_upload() -> None:
    async with ActorSystem("parity-browser", seed=5) as system:
        hub = LiveHub(system, {"parity": ParityView()}, secret=b"p" * 32)
        routes = [
            Route("/landing", landing, methods=["POST"]),
            Route("/bucket/{key}", bucket, methods=["PUT"]),
            *LiveRoutes(hub).routes,
        ]
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/parity")
                assert await page.evaluate("window.pageEvents") == ["start:initial", "stop:initial"]

                # lf-page-loading: start when the event goes, stop when it is answered.
                await page.click("#slow")
                await text_is(page, "#slows", "1")
                await page.wait_for_function("window.pageEvents.length === 4")
                assert await page.evaluate("window.pageEvents.slice(2)") == [
                    "start:element",
                    "stop:element",
                ]

                # A live navigation: "redirect" until the next view joined.
                await page.click("#nav")
                await page.wait_for_function("window.pageEvents.length === 6")
                assert await page.evaluate("window.pageEvents.slice(4)") == [
                    "start:redirect",
                    "stop:redirect",
                ]
                await page.wait_for_selector("[data-lf-status=connected]")

                # The capture click fires though the inner button stops the click; the
                # bubbling lf-click on the same element does not see it.
                await page.click("#inner")
                await text_is(page, "#captured", "1")
                assert await page.text_content("#plain") == "0"

                # pushEventTo: a component by selector, then by cid; the view by an
                # element outside any component. Each promise gives one reply per target.
                await page.wait_for_function("!!window.parityHook")
                replies = await page.evaluate(
                    "window.parityHook.pushEventTo('#counter', 'bump', {by: 2})"
                    ".then((r) => r.length)"
                )
                assert replies == 1
                await text_is(page, "#counter", "2")
                cid = await page.get_attribute("#counter", "lf-target")
                await page.evaluate(f"window.parityHook.pushEventTo({cid}, 'bump', {{by: 3}})")
                await text_is(page, "#counter", "5")
                await page.evaluate("window.parityHook.pushEventTo('#hooked', 'hello', {})")
                await text_is(page, "#got", "hello 1")

                # upload: files a script made go up as if chosen in the input.
                sent = await page.evaluate(
                    "window.parityHook.upload('doc', "
                    "[new File(['made by a hook'], 'hook.txt', {type: 'text/plain'})])"
                )
                assert sent is True
                await page.click("#save")  # the submit waits for the file, then consumes it
                await text_is(page, "#got", "hook.txt: made by a hook")

                # An upload of a live component: chosen by the user in its input, then
                # by a hook's uploadTo naming the component by selector.
                box = await page.get_attribute("#box", "lf-target")
                await page.set_input_files(
                    f"#lf-upload-{box}-doc",
                    files=[{"name": "mine.txt", "mimeType": "text/plain", "buffer": b"chosen"}],
                )
                await page.click("#box-keep")
                await text_is(page, "#box-got", "mine.txt: chosen")
                assert await page.text_content("#got") == "hook.txt: made by a hook"
                sent = await page.evaluate(
                    "window.parityHook.uploadTo('#box', 'doc', "
                    "[new File(['to the box'], 'hooked.txt')])"
                )
                assert sent is True
                await page.click("#box-keep")
                await text_is(page, "#box-got", "mine.txt: chosen | hooked.txt: to the box")

                # An external upload: the page's Bucket uploader PUTs the file to the URL
                # the view signed; only its progress goes over the socket.
                await page.set_input_files(
                    "#lf-upload-pic",
                    files=[{"name": "cloud.txt", "mimeType": "text/plain", "buffer": b"up there"}],
                )
                await page.click("#pics-save")  # waits for the uploader's 100 %
                await text_is(page, "#pics-got", "cloud.txt: up there")
                assert list(BUCKET.values()) == [b"up there"]

                # lf-trigger-action: the answer to "arm" sets it; the form posts itself.
                await page.click("#arm")
                await page.wait_for_function(
                    "document.body && document.body.textContent === 'landed as ann'"
                )
                assert page.url.endswith("/live/landing")
            finally:
                await browser.close()
                await hub.stop()
