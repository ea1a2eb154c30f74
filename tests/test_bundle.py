"""The function's bundle carries the compiled libraries its hot path needs, built for Lambda's arm64."""

from __future__ import annotations

import pytest

from tests.support.events import ROOT
from tests.test_template import run, runtime_python, sam_env, tool


@pytest.mark.slow
def test_sam_build_bundles_pybase64s_arm64_extension(tmp_path):
    """Base64 is pybase64's SIMD extension (its pure-Python fallback would work, five times slower)."""
    runtime_python(sam_env())
    result = run(
        tool("SAM_CLI"), "build", "--template-file", str(ROOT / "template.yaml"),
        "--build-dir", str(tmp_path / "build"), "--cache-dir", str(tmp_path / "cache"),
        env=sam_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = tmp_path / "build" / "EnrichFunction"
    (extension,) = bundle.glob("pybase64/_pybase64.cpython-313-*.so")
    assert "aarch64" in extension.name, "pybase64 for the Lambda's arm64 runtime, not this machine's"
