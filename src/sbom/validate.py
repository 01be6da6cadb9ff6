# Validates a batch of SBOMs in one process, for the tests (the venv of .ci/setup): stdin is
# a JSON list of {"format": "spdx" | "cyclonedx", "document": "<the document's text>"};
# stdout is a JSON list of the same length, "" for a valid document, else what is wrong.
#
# SPDX: what `pyspdxtools -i FILE` does (parse_file, then validate_full_spdx_document).
# CycloneDX: JsonStrictValidator(SchemaVersion.V1_6), plus the check it lacks: every
# dependency's `ref` and `dependsOn` names a bom-ref of the document.
import json
import os
import sys
import tempfile

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document


def spdx(text, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        document = parse_file(path)
    except Exception as e:  # the parser's errors, as pyspdxtools reports them
        return f"cannot parse: {e}"
    messages = validate_full_spdx_document(document, document.creation_info.spdx_version)
    return "\n".join(m.validation_message for m in messages)


CDX = JsonStrictValidator(SchemaVersion.V1_6)


def cyclonedx(text):
    error = CDX.validate_str(text)
    if error:
        return str(error)
    doc = json.loads(text)
    refs = {c.get("bom-ref") for c in doc.get("components", [])}
    refs.add(doc.get("metadata", {}).get("component", {}).get("bom-ref"))
    for d in doc.get("dependencies", []):
        for r in [d["ref"]] + d.get("dependsOn", []):
            if r not in refs:
                return f"dangling dependency reference {r!r}"
    return ""


def main():
    batch = json.load(sys.stdin)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "doc.spdx.json")
        for item in batch:
            if item["format"] == "spdx":
                out.append(spdx(item["document"], path))
            else:
                out.append(cyclonedx(item["document"]))
    json.dump(out, sys.stdout)


main()
