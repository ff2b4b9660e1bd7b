"""Regenerate the plan's published JSON Schema from its typed model: ``python tools/write_schema.py``.

A test fails when the committed file and the model disagree.
"""

from unseen import plan

if __name__ == "__main__":
    plan.SCHEMA_PATH.write_text(plan.schema_text(), encoding="utf-8")
    print(f"wrote {plan.SCHEMA_PATH}")
