"""Real photographs for super-resolution that need no network beyond the package mirrors.

scikit-image's bundled sample photos and the photographic wallpapers of two Debian packages
(``apt-get download``, no root), saved once as PNGs (longest side at most ``max_side``,
antialiased) under ``<root>/train`` and ``<root>/val``. The held-out list is fixed by name, so
every machine and every run scores the same photos; ``<root>/photos.json`` records what was built.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from filelock import FileLock
from PIL import Image

from ganforge.data.debian import unpacked_package
from ganforge.data.images import UNREADABLE_IMAGE_ERRORS
from ganforge.errors import DataNotFoundError, GanforgeError, one_line
from ganforge.files import write_text_atomic

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1
# scikit-image photos that ship inside the package (the others need its downloader).
SKIMAGE_PHOTOS = {
    "train": ("hubble_deep_field", "immunohistochemistry", "retina", "camera", "coins", "moon"),
    "val": ("astronaut", "coffee", "chelsea", "rocket"),
}
# Debian package -> (glob of one photo's file(s) inside it, {split: names}); the largest match is used.
# Only the photographs: both packages also ship artwork, left out.
DEBIAN_PHOTOS = {
    "mate-backgrounds": ("usr/share/backgrounds/mate/nature/{name}.jpg", {
        "train": ("Aqua", "Blinds", "Dune", "FreshFlower", "GreenMeadow", "LadyBird", "RainDrops", "TwoWings",
                  "Wood", "YellowFlower"),
        "val": ("Garden", "Storm"),
    }),
    "plasma-workspace-wallpapers": ("usr/share/wallpapers/{name}/contents/images/*.jpg", {
        "train": ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "FallenLeaf", "Grey", "OneStandsOut",
                  "summer_1am"),
        "val": ("EveningGlow", "Path"),
    }),
}
SOURCES = ("skimage", *DEBIAN_PHOTOS)
SPLITS = ("train", "val")
Photo = tuple[str, str, Callable[[], Image.Image]]  # (split, file stem, opener)


def check_sources(sources: Sequence[str]) -> list[str]:
    """The chosen sources, validated before any work starts."""
    chosen = list(sources)
    unknown = [s for s in chosen if s not in SOURCES]
    if unknown or not chosen:
        raise GanforgeError(f"data.sources must name some of {list(SOURCES)}, got {chosen}")
    return chosen


def skimage_photos() -> Iterator[Photo]:
    try:
        import skimage.data as samples
    except ImportError as err:
        raise OSError("scikit-image is not installed (pip install scikit-image)") from err
    for split, names in SKIMAGE_PHOTOS.items():
        for name in names:
            def opener(name: str = name) -> Image.Image:
                try:
                    return Image.fromarray(getattr(samples, name)())
                except Exception as err:  # noqa: BLE001  (a missing bundled file surfaces as many types)
                    raise OSError(f"scikit-image's {name} did not load: {one_line(err, 120)}") from err
            yield split, f"skimage-{name}", opener


def largest(files: list[Path]) -> Path | None:
    """The readable image with the most pixels (wallpaper folders hold one photo at several sizes)."""
    best, best_pixels = None, -1
    for path in sorted(files):
        try:
            with Image.open(path) as img:
                pixels = img.width * img.height
        except UNREADABLE_IMAGE_ERRORS:
            continue
        if pixels > best_pixels:
            best, best_pixels = path, pixels
    return best


def package_photos(tree: Path, package: str) -> tuple[list[Photo], list[str]]:
    """(photos, names not found) of one unpacked package."""
    pattern, splits = DEBIAN_PHOTOS[package]
    found, missing = [], []
    short = package.split("-")[0]
    for split, names in splits.items():
        for name in names:
            path = largest(list(tree.glob(pattern.format(name=name))))
            if path is None:
                missing.append(f"{package}:{name}")
                continue
            found.append((split, f"{short}-{name}", lambda path=path: Image.open(path)))
    return found, missing


def save_photo(image: Image.Image, path: Path, max_side: int) -> None:
    """PNG (lossless) with its longest side at most ``max_side`` (Lanczos, antialiased)."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    scale = max_side / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    image.save(path)


def photo_folders(root: Path, sources: Sequence[str], max_side: int, download: bool = True) -> tuple[Path, Path]:
    """(train folder, held-out folder) under ``root``, built on first use and reused while
    ``photos.json`` matches the request; a changed request rebuilds them. Runs started together
    (a sweep's jobs) take turns: one builds, the others then reuse its folders."""
    root = Path(root).expanduser()
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root.parent / f".{root.name}.lock")):
        return _photo_folders(root, sources, max_side, download)


def _photo_folders(root: Path, sources: Sequence[str], max_side: int, download: bool) -> tuple[Path, Path]:
    wanted = {"version": MANIFEST_VERSION, "sources": sorted(check_sources(sources)), "max_side": int(max_side)}
    manifest = root / "photos.json"
    if manifest.is_file() and all((root / s).is_dir() for s in SPLITS):
        try:
            saved = json.loads(manifest.read_text())
        except (OSError, ValueError):
            saved = {}
        if {k: saved.get(k) for k in wanted} == wanted:
            return root / "train", root / "val"
    if not download:
        raise DataNotFoundError(f"no photos assembled under {root} for data.sources={list(sources)} and "
                                f"data.max_side={max_side}, and data.download=false. Run once with data.download=true "
                                "(it needs scikit-image and apt-get), or use data=sr_folder data.root=<your photos>")
    build = root / ".building"
    shutil.rmtree(build, ignore_errors=True)
    for split in SPLITS:
        (build / split).mkdir(parents=True)
    failures, missing, counts = [], [], {s: 0 for s in SPLITS}

    def save_all(photos: Sequence[Photo] | Iterator[Photo]) -> None:
        for split, stem, opener in photos:
            with opener() as image:
                save_photo(image, build / split / f"{stem}.png", max_side)
            counts[split] += 1

    for source in wanted["sources"]:
        log.info("photos: collecting %s", source if source == "skimage" else f"Debian's {source} (apt-get download)")
        try:
            if source == "skimage":
                save_all(list(skimage_photos()))
            else:
                with unpacked_package(source, root) as tree:
                    photos, lost = package_photos(tree, source)
                    missing += lost
                    save_all(photos)
        except OSError as err:
            failures.append(f"{source}: {one_line(err, 200)}")
    if failures:
        shutil.rmtree(build, ignore_errors=True)
        raise DataNotFoundError(
            f"the photos of data=sr_photos could not be collected ({'; '.join(failures)}). Fix that (scikit-image "
            "installed, apt-get reaching a Debian mirror), leave the failing source out with data.sources=[...] "
            "(the held-out set then changes), or use data=sr_folder data.root=<your photos>")
    if missing:
        log.warning("photos: %d named photos are not in these package versions and were left out: %s",
                    len(missing), ", ".join(missing))
    if not all(counts.values()):
        shutil.rmtree(build, ignore_errors=True)
        raise DataNotFoundError(f"data.sources={list(sources)} gave {counts['train']} training and {counts['val']} "
                                "held-out photos; both need some. Add a source or use data=sr_folder")
    for split in SPLITS:
        shutil.rmtree(root / split, ignore_errors=True)
        (build / split).rename(root / split)
    shutil.rmtree(build, ignore_errors=True)
    write_text_atomic(manifest, json.dumps({**wanted, "missing": missing, "counts": counts,
                                            "files": {s: sorted(p.name for p in (root / s).iterdir())
                                                      for s in SPLITS}}, indent=1) + "\n")
    log.info("photos: %d for training and %d held out under %s (longest side <= %d px)", counts["train"],
             counts["val"], root, max_side)
    return root / "train", root / "val"
