"""Install the peers of the `bench` dependency group one by one, so that one
that cannot be installed does not stop the others; the harness reports the
failures it finds here.  Used by `make bench` when the group will not
install as a whole."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATUS = Path(sys.prefix) / "bench-install.json"


def main() -> int:
    group = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    status = {}
    for req in group:
        name = re.split(r"[<>=!~ \[]", req, maxsplit=1)[0]
        res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", req],
                             capture_output=True, text=True)
        tail = (res.stderr.strip().splitlines() or ["failed"])[-1]
        status[name] = "ok" if res.returncode == 0 else f"install failed: {tail[:200]}"
        print(f"{name}: {status[name]}")
    STATUS.write_text(json.dumps(status, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
