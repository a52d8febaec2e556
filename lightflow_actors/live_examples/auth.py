"""Log in: a login page, a signed cookie session, protected views, flash, log out.

``login`` checks a name and password (two demo users, passwords kept as PBKDF2
digests) and answers with `PutSession`: the browser passes through ``{base}/session``,
which writes the signed cookie (a new session id: ADR 0082) and lands on ``account``
with a welcome flash. ``account`` and ``profile`` form the ``signed_in`` live_session;
its `on_mount` hook, `require_user`, halts every mount without a user in the cookie
session (the page's GET and the WebSocket join alike) with a redirect to the login
page and an error flash. Flash survives a live patch (Save) and a live navigation
(to the profile); Log out clears the session and renews its id, so every page served
before is refused and reloads.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

import msgspec

from lightflow_actors.live import (
    AnyLiveView,
    ClearFlash,
    GroupedView,
    Halt,
    LiveView,
    Params,
    PushNavigate,
    PushPatch,
    PutFlash,
    PutSession,
    Rendered,
    SessionInfo,
    Template,
    Update,
    flash_group,
    live_session,
    relative_target,
)

# name -> PBKDF2-SHA256(password, "lightflow-example-" + name, 10 000 rounds). The demo's
# passwords: ada / lovelace, grace / hopper.
USERS: Final[Mapping[str, str]] = {
    "ada": "eb83521595e45e1655bf920c572b6eaa97cbc0ff85f30b0a53cdeb1a198223fd",
    "grace": "39bc0a59bcd4dbb254eabb57455a32db4dc00c0843283169ed2b3cc6feb5fb07",
}


def check_password(name: str, password: str) -> bool:
    """Whether `password` is `name`'s (constant time in the digest comparison)."""
    expected = USERS.get(name)
    salt = f"lightflow-example-{name}".encode()
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000).hex()
    return expected is not None and hmac.compare_digest(digest, expected)


def require_user(params: Params, session: SessionInfo) -> SessionInfo | Halt:
    """The ``signed_in`` group's hook: the user in the cookie session, or off to log in."""
    user = session.signed.get("user")
    if not isinstance(user, str) or user not in USERS:
        return Halt("login?next=account", flash={"error": "Log in to see that page."})
    return session.assign(user=user)


LAYOUT = Template('{flash}<section class="auth">{inner}</section>')


class FlashLayout(AnyLiveView):
    """The examples' layout: the flash messages above the view (Phoenix's app layout)."""

    def layout(self, inner: Rendered, flash: Mapping[str, str]) -> Rendered:
        return LAYOUT(flash=flash_group(flash), inner=inner)


# -- login ---------------------------------------------------------------------------


class LogIn(msgspec.Struct, frozen=True, tag="login"):
    name: str = ""
    password: str = ""


class LoginState(msgspec.Struct, frozen=True):
    next: str = "account"
    name: str = ""
    error: str = ""


LOGIN = Template(
    "<h1>Log in</h1>"
    '<form id="login" lf-submit="login">'
    '<label>Name <input name="name" value="{name}" autocomplete="username"></label> '
    '<label>Password <input name="password" type="password" value="" '
    'autocomplete="current-password"></label> '
    '<button id="log-in" type="submit">Log in</button></form>'
    '<p id="login-error" class="error">{error}</p>'
    "<p>Try ada / lovelace or grace / hopper.</p>"
)


class Login(FlashLayout, LiveView[LoginState, LogIn]):
    title = "Log in"

    def mount(self, params: Params, session: SessionInfo) -> LoginState:
        target = params.get("next", "account")
        return LoginState(next=target if relative_target(target) else "account")

    def handle_event(self, event: LogIn, state: LoginState) -> LoginState | Update[LoginState]:
        if not check_password(event.name, event.password):
            return LoginState(state.next, event.name, "Unknown name or wrong password.")
        welcome = PutFlash(kind="info", message=f"Welcome, {event.name}!")
        # renew: a new session id on log in, so one planted before is worth nothing.
        login = PutSession(to=state.next, put={"user": event.name}, renew=True)
        return Update(LoginState(state.next, event.name), (ClearFlash(), welcome, login))

    def render(self, state: LoginState) -> Rendered:
        return LOGIN(name=state.name, error=state.error)


# -- signed in -----------------------------------------------------------------------


class Save(msgspec.Struct, frozen=True, tag="save"):
    pass


class ToProfile(msgspec.Struct, frozen=True, tag="profile"):
    pass


class LogOut(msgspec.Struct, frozen=True, tag="logout"):
    pass


class Account(msgspec.Struct, frozen=True):
    user: str
    saves: int = 0


ACCOUNT = Template(
    "<h1>Account</h1>"
    '<p>Signed in as <b id="user">{user}</b>.</p>'
    '<p>Saved <span id="saves">{saves}</span> times.</p>'
    '<button id="save" lf-click="save">Save</button> '
    '<button id="to-profile" lf-click="profile">Profile</button> '
    '<button id="log-out" lf-click="logout">Log out</button>'
)


def log_out() -> tuple[PutFlash, PutSession]:
    return (
        PutFlash(kind="info", message="You are logged out."),
        PutSession(to="login", clear=True, renew=True),
    )


class AccountView(FlashLayout, LiveView[Account, Save | ToProfile | LogOut]):
    """The protected page: the user the hook assigned, a save count in the URL."""

    title = "Account"

    def mount(self, params: Params, session: SessionInfo) -> Account:
        saves = params.get("saves", "0")
        return Account(str(session.assigns["user"]), int(saves) if saves.isdigit() else 0)

    def handle_params(self, params: Params, state: Account) -> Account:
        saves = params.get("saves", "0")
        return Account(state.user, int(saves) if saves.isdigit() else state.saves)

    def handle_event(self, event: Save | ToProfile | LogOut, state: Account) -> Update[Account]:
        if isinstance(event, Save):
            saved = Account(state.user, state.saves + 1)
            flash = PutFlash(kind="info", message="Saved.")
            return Update(saved, (flash, PushPatch({"saves": str(saved.saves)})))
        if isinstance(event, ToProfile):
            note = PutFlash(kind="info", message="Here is your profile.")
            return Update(state, (note, PushNavigate(view="profile")))
        return Update(state, log_out())

    def render(self, state: Account) -> Rendered:
        return ACCOUNT(user=state.user, saves=state.saves)


PROFILE = Template(
    "<h1>Profile</h1>"
    '<p>Name: <b id="user">{user}</b></p>'
    '<p><a id="to-account" lf-navigate href="account">account</a></p>'
    '<button id="log-out" lf-click="logout">Log out</button>'
)


class ProfileView(FlashLayout, LiveView[str, LogOut]):
    title = "Profile"

    def mount(self, params: Params, session: SessionInfo) -> str:
        return str(session.assigns["user"])

    def handle_event(self, event: LogOut, state: str) -> Update[str]:
        return Update(state, log_out())

    def render(self, state: str) -> Rendered:
        return PROFILE(user=state)


def auth_views() -> dict[str, AnyLiveView | GroupedView]:
    """``login`` for everyone; ``account`` and ``profile`` in the ``signed_in`` group."""
    signed_in = live_session(
        "signed_in", {"account": AccountView(), "profile": ProfileView()}, on_mount=[require_user]
    )
    return {"login": Login(), **signed_in}
