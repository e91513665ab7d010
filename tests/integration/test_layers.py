"""The source tree's layers (docs/architecture.md, "Layers"): a folder
includes only from folders below it, so there is no include circle and
no folder reaches into another's internals."""
import pathlib
import re

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"

# bottom to top; a folder may include itself and anything earlier
LAYERS = [
    "core",
    "conf", "smtp", "mime", "spool",
    "net",
    "auth", "msgauth", "policy",
    "live",
    "tlspol",
    "deliver",
    "queue",
    "server",
    "http",
    "cli",
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([a-z_0-9]+\.h)"', re.M)


def edges():
    for path in sorted(SRC.glob("*/*.[ch]")):
        folder = path.parent.name
        for m in INCLUDE.finditer(path.read_text()):
            yield path.relative_to(SRC), folder, m.group(1), m.group(2)


def test_every_folder_has_a_layer():
    folders = {p.name for p in SRC.iterdir() if p.is_dir()}
    assert folders == set(LAYERS), folders ^ set(LAYERS)


def test_includes_only_look_down():
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = [f"{path}: {inc}/{hdr}" for path, folder, inc, hdr in edges()
           if inc != folder and rank[inc] >= rank[folder]]
    assert not bad, "includes that look up or sideways:\n" + "\n".join(bad)


def test_internal_headers_stay_home():
    # a header named *_int.h is its folder's own
    bad = [f"{path}: {inc}/{hdr}" for path, folder, inc, hdr in edges()
           if hdr.endswith("_int.h") and inc != folder]
    assert not bad, bad


def test_no_double_underscore_names_across_folders():
    # name__thing() is shared between the files of one folder (style.md),
    # never used from another
    internal = re.compile(r"\b([a-z]+__[a-z_0-9]+)\s*\(")
    where = {}
    for path in sorted(SRC.glob("*/*.[ch]")):
        for m in internal.finditer(path.read_text()):
            where.setdefault(m.group(1), set()).add(path.parent.name)
    bad = {name: sorted(f) for name, f in where.items() if len(f) > 1}
    assert not bad, bad
