"""``lightflow new auth``: register, log in and log out, in the style of the project's
own login example (``live_examples/auth.py``).

The generated module (``src/<package>/live/auth.py``) has a `Users` actor keeping
scrypt password hashes, the ``login`` and ``register`` live views (a good password is
a `PutSession` the browser applies through ``/live/session``: the signed cookie), the
``on_mount`` hook that sends a logged-out visitor to ``login``, `signed_in` (views in
the ``signed_in`` live_session) and an ``account`` view in that group. Its tests drive
it with the test DSL and over real HTTP and a WebSocket. `register_auth` adds the views
and the actor to ``app.py`` at the marked lines.
"""

from __future__ import annotations

from ._files import Planned
from ._register import ACTORS, VIEWS, register
from ._target import Project
from ._templates import render


def plan_auth(project: Project) -> list[Planned]:
    """The auth module and its two test modules."""
    values = {"package": project.package.module}
    return [
        Planned(f"{project.package_dir}/live/auth.py", render("auth/auth.py.tmpl", **values)),
        Planned("tests/live/test_auth.py", render("auth/test_auth.py.tmpl", **values)),
        Planned("tests/live/test_auth_http.py", render("auth/test_auth_http.py.tmpl", **values)),
    ]


def register_auth(project: Project) -> list[str]:
    """Add the views and `Users` to ``app.py`` (once)."""
    return register(
        project,
        "live.auth",
        ["auth_views", "start_users"],
        {VIEWS: "        **auth_views(system),", ACTORS: "    await start_users(system)"},
        f"added /live/login, /live/register, /live/confirm, /live/forgot, /live/reset, "
        f"/live/account, /live/settings and /live/mailbox to {project.package_dir}/app.py",
    )
