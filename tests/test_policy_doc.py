"""docs/policy.md says what lxbrand does: each ```toml example there is a policy file
that loads, and each ```toml mistake gives exactly the error shown after it."""
import re
import sys

import pytest

from conftest import ROOT
from lxbrand.errors import PolicyError
from lxbrand.policy import load_policy

DOC = ROOT / "docs" / "policy.md"
BLOCK = re.compile(r"^```(\w+)( mistake)?\n(.*?)^```\n", re.M | re.S)
HOME = "/etc/lxbrand"  # where the doc's examples live (their relative paths resolve there)


def examples():
    """[(line, toml, expected error or None)] in the doc's order."""
    text = DOC.read_text()
    blocks = [(text.count("\n", 0, m.start()) + 1, m[1], bool(m[2]), m[3]) for m in BLOCK.finditer(text)]
    out = []
    for i, (line, lang, mistake, body) in enumerate(blocks):
        if lang != "toml":
            continue
        err = None
        if mistake:
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            assert nxt and nxt[1] == "console", f"docs/policy.md:{line}: a mistake needs its console block next"
            err = nxt[3].splitlines()[-1].removeprefix("lxrun: ")
        out.append((line, body, err))
    return out


EXAMPLES = examples()


def test_the_doc_has_examples_and_mistakes():
    assert len([e for e in EXAMPLES if e[2] is None]) >= 10
    assert len([e for e in EXAMPLES if e[2] is not None]) >= 20


@pytest.mark.parametrize("line, body, err", EXAMPLES, ids=[f"line{e[0]}" for e in EXAMPLES])
def test_doc_example(tmp_path, monkeypatch, line, body, err):
    (tmp_path / "p.toml").write_text(body)
    # the handler the doc's example names
    (tmp_path / "myhandlers.py").write_text("def answer(call):\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    if err is None:
        p = load_policy("p.toml")
        assert p.source == "p.toml"
        return
    with pytest.raises(PolicyError) as e:
        load_policy("p.toml")
    assert str(e.value).replace(str(tmp_path), HOME) == err
    sys.modules.pop("myhandlers", None)
