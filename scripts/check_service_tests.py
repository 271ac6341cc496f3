"""Fail CI when tests that need PostgreSQL were skipped or did not run at all.

Usage: python scripts/check_service_tests.py JUNIT_XML
A test needs PostgreSQL when its parametrised id names ``postgres``.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    root = ET.parse(path).getroot()  # noqa: S314
    ran = skipped = 0
    for case in root.iter("testcase"):
        if "postgres" not in case.get("name", ""):
            continue
        if case.find("skipped") is not None:
            skipped += 1
            print(f"skipped service test: {case.get('classname')}::{case.get('name')}")
        else:
            ran += 1
    print(f"postgres tests: {ran} ran, {skipped} skipped")
    if skipped or not ran:
        print("FAIL: tests that need PostgreSQL must run in CI (MBUROJA_TEST_POSTGRES_URL)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
