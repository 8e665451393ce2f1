"""The sandbox's ES modules after ``collectstatic`` with the production storage: every import names a hashed file.

A hashed ``main.<hash>.js`` importing a plain ``./form.js`` would mix releases (the plain name is cached
for a short while, the hashed one for good); the storage rewrites the imports as it does CSS urls.
"""

from __future__ import annotations

import json
import re

from django.core.management import call_command
from django.test import override_settings

IMPORT = re.compile(r'^import .* from "(\./[^"]+)";$', re.MULTILINE)


def test_collected_modules_import_each_other_by_hashed_name(tmp_path, settings):
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "config.storage.StaticFilesStorage"}}
    only_ours = ["django.contrib.staticfiles.finders.FileSystemFinder"]  # static/, not the apps' (seconds less)
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages, STATICFILES_FINDERS=only_ours):
        call_command("collectstatic", interactive=False, verbosity=0)
    paths = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed = {name: paths[name] for name in paths if name.startswith("sandbox/") and name.endswith(".js")}
    assert {"sandbox/main.js", "sandbox/form.js", "sandbox/renderers.js", "sandbox/run.js",
            "sandbox/snippets.js"} <= set(hashed)
    for name, target in hashed.items():
        for url in IMPORT.findall((tmp_path / target).read_text()):
            imported = "sandbox/" + url.removeprefix("./")
            assert imported in paths.values(), (name, url)  # a hashed name collectstatic wrote
            assert (tmp_path / imported).is_file()
    assert IMPORT.findall((tmp_path / hashed["sandbox/main.js"]).read_text())  # main imports the others
