"""The Node.js that runs the CDK CLI and jsii: the one the root ``package.json`` pins.

The machine's Node may be older than the CDK CLI and jsii support (Node 20 is
end-of-life: jsii prints a warning box on every start). ``make node`` (a dependency of
``make test``, ``make synth`` and ``make deploy``) installs the ``node`` npm package,
Node 22, into ``node_modules/.bin``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules" / ".bin" / "node"
CDK_CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"


def pinned_node() -> Path | str:
    """``node_modules/.bin/node``, or plain ``node`` when ``make node`` has not run."""
    if NODE.exists():
        return NODE
    # Without the pinned Node, at least keep jsii's end-of-life box out of test output.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    return "node"


def node_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the pinned Node first on PATH and for jsii."""
    out = dict(os.environ if env is None else env)
    node = pinned_node()
    if isinstance(node, Path):
        out["PATH"] = f"{node.parent}{os.pathsep}{out.get('PATH', '')}"
        out["JSII_NODE"] = str(node)
    return out
