"""Building events loads openlineage-python's models, not its client and transports; the client still works."""

import json
import subprocess
import sys

TRANSPORT_MODULES = ("openlineage.client.client", "openlineage.client.transport", "httpx", "httpx2", "requests")


def run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_and_writing_an_event_loads_no_transport():
    seen = run(
        "import json, sys, tempfile, pathlib\n"
        "from lineage.deliver.build import statement_event\n"
        "from lineage.deliver.emit import EventEmitter\n"
        "from lineage.deliver import governance, datasets, facets\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({TRANSPORT_MODULES!r}))))"
    )
    assert seen == []


def test_the_client_package_still_answers_every_name_after_the_models_loaded():
    seen = run(
        "import json, lineage\n"
        "from openlineage.client.event_v2 import RunEvent\n"
        "import openlineage.client as package\n"
        "from openlineage.client import OpenLineageClient, set_producer, __version__\n"
        "from openlineage.client.client import OpenLineageClient as direct\n"
        "from openlineage.client.transport.http import HttpTransport\n"
        "missing = None\n"
        "try:\n"
        "    package.no_such_name\n"
        "except AttributeError as error:\n"
        "    missing = str(error)\n"
        "print(json.dumps({'same': OpenLineageClient is direct, 'producer': callable(set_producer), "
        "'version': __version__, 'http': HttpTransport.kind, 'missing': missing}))"
    )
    assert seen["same"] and seen["producer"] and seen["version"] and seen["http"] == "http"
    assert "no_such_name" in seen["missing"]


def test_a_client_imported_before_lineage_is_left_as_it_is():
    seen = run(
        "import json, sys, openlineage.client as before\n"
        "import lineage.deliver.build\n"
        "print(json.dumps({'same': sys.modules['openlineage.client'] is before, 'client': 'openlineage.client.client' in sys.modules}))"
    )
    assert seen == {"same": True, "client": True}
