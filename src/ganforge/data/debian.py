"""Files out of a Debian package without root: ``apt-get download`` and ``dpkg-deb -x``.

A machine that reaches only package mirrors still gets datasets (Fashion-MNIST) and photographs
(wallpaper packages) this way; every failure becomes one ``OSError`` naming the tool and its last line.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def run_tool(command: list[str], cwd: str) -> None:
    """Run a packaging tool; any failure becomes ``OSError`` with the tool's last line."""
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as err:
        raise OSError(f"{command[0]} is not installed (not a Debian/Ubuntu system)") from err
    except subprocess.CalledProcessError as err:
        last = (err.stderr or err.stdout or "").strip().splitlines()
        raise OSError(f"{' '.join(command[:2])} failed: {last[-1] if last else err}") from err
    except subprocess.TimeoutExpired as err:
        raise OSError(f"{' '.join(command[:2])} took longer than {err.timeout:.0f} s") from err


@contextmanager
def unpacked_package(package: str, scratch_parent: Path) -> Iterator[Path]:
    """The package's file tree, unpacked in a scratch folder under ``scratch_parent`` that is
    removed on exit (so a failed or interrupted fetch leaves nothing behind)."""
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_parent, prefix=".debian-") as scratch:
        run_tool(["apt-get", "download", package], scratch)
        debs = sorted(Path(scratch).glob(f"{package}_*.deb"))
        if not debs:
            raise OSError(f"apt-get download {package} left no .deb file")
        run_tool(["dpkg-deb", "-x", str(debs[0]), str(Path(scratch) / "root")], scratch)
        yield Path(scratch) / "root"
