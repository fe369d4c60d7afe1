"""An interactive dashboard in the browser: one patient or a small cohort, run and shown.

``metacascade dashboard`` (or :func:`serve`) starts a local Panel server. Its page has
controls for the cancer, the body, therapy, the seed, the horizon and a cohort mode, a
Run and a Cancel button, and shows the cascade funnel, the body map at the day a time
slider picks, the CTC course and the key numbers of a patient, or the survival curves
and the organs involved of a cohort. The model runs through the library, in a worker
thread; the pieces without Panel are :mod:`metacascade.dashboard.runs` and
:mod:`metacascade.dashboard.figures`.

Panel is an optional dependency (``pip install 'metacascade[dashboard]'``), imported
only here and in :mod:`metacascade.dashboard.app`.
"""

from __future__ import annotations

import os
import socket
from types import ModuleType
from typing import TYPE_CHECKING, Any

from metacascade.errors import MetacascadeError, install_hint

if TYPE_CHECKING:
    from panel.viewable import Viewable

#: Address and port the server listens on by default (this machine only).
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5006
INSTALL_HINT = "the dashboard needs Panel: " + install_hint("dashboard")


class DashboardUnavailable(MetacascadeError):
    """Panel (the dashboard's optional dependency) is not installed."""


def require_panel() -> ModuleType:
    """The :mod:`panel` module; :class:`DashboardUnavailable` if it is not installed."""
    try:
        import panel
    except ImportError:
        raise DashboardUnavailable(INSTALL_HINT) from None
    return panel


def create_app() -> Viewable:
    """A new dashboard page (:func:`metacascade.dashboard.app.create_app`)."""
    require_panel()
    from metacascade.dashboard.app import create_app as create

    return create()


def serve(*, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, show: bool = True,
          threaded: bool = False, verbose: bool = True) -> Any:
    """Serve the dashboard at ``http://host:port/``.

    Parameters
    ----------
    host
        Address to listen on; the default takes connections from this machine only.
    port
        Port, 0 for any free one.
    show
        Open the page in the default web browser.
    threaded
        Serve from a background thread and return it (call its ``stop()`` to end);
        otherwise serve until interrupted (Ctrl+C) and return None.
    verbose
        Print the address once the server listens.

    Returns
    -------
    panel.io.server.StoppableThread or None
        The server's thread when ``threaded``.

    """
    pn = require_panel()
    from metacascade.dashboard.app import create_app as create

    if not 0 <= port <= 65535:
        raise MetacascadeError(f"port: {port} must be in 0..65535")
    if not host.strip():
        raise MetacascadeError(f"host: {host!r} is empty; allowed: an address or host name "
                               f"of this machine (default {DEFAULT_HOST})")
    if port == 0:
        try:
            port = free_port(host)
        except OSError as error:
            raise MetacascadeError(f"host: cannot listen on {host!r}: "
                                   f"{error.strerror or error}") from None
    else:
        _check_listen(host, port)  # (before the address is printed)
    origins = sorted({f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})
    if verbose:
        print(f"metacascade dashboard at http://{host}:{port}/ (Ctrl+C stops it)", flush=True)
    try:
        return pn.serve(create, port=port, address=host, websocket_origin=origins,
                        show=show, threaded=threaded, verbose=False,
                        title="metacascade dashboard")
    except KeyboardInterrupt:
        return None
    except OSError as error:
        raise MetacascadeError(f"cannot serve on {host}:{port}: "
                               f"{error.strerror or error}") from None


def _check_listen(host: str, port: int) -> None:
    """Refuse an address the server could not listen on (as it would: address reuse on)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            if os.name == "posix":  # (as tornado; on Windows it would share a port in use)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen()
    except OSError as error:
        raise MetacascadeError(f"cannot serve on {host}:{port}: "
                               f"{error.strerror or error}") from None


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port on ``host`` that no one listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
