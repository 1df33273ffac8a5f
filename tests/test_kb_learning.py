"""The learning loop: what callers asked is kept, gaps are listed, caller phrasings feed back into kb_data/."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml
from sqlalchemy import select

from ivr.kb.files import FRONT_MATTER_RE, add_sample_question, parse_article, read_knowledge_base
from ivr.kb.models import QuestionAsked
from ivr.services import services

from .conftest import ROOT, cli_app, invoke_cli


def test_add_sample_keeps_the_answer_and_is_idempotent(tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb_data", kb)
    path = sorted((kb / "articles").glob("*.md"))[0]
    before = parse_article(path)
    body_before = FRONT_MATTER_RE.match(path.read_text()).group(2)
    add_sample_question(kb, before.id, "  can  i get my   money back on a blender ")
    add_sample_question(kb, before.id, "Can I get my money back on a blender")
    after = parse_article(path)
    assert after.questions == (*before.questions, "can i get my money back on a blender")
    assert (after.answer, after.title, after.topic, after.keywords) == (
        before.answer, before.title, before.topic, before.keywords)
    assert FRONT_MATTER_RE.match(path.read_text()).group(2) == body_before
    read_knowledge_base(kb)  # still a valid knowledge base


@pytest.mark.slow
def test_gaps_and_add_sample_round_trip_through_a_call(app, call, tmp_path):
    """A caller's unanswered phrasing shows in `kb gaps`; adding it makes the next caller get the answer."""
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb_data", kb)
    db_url = app.config["IVR_SETTINGS"].sqlalchemy_url
    cli_process = cli_app(app.config["IVR_SETTINGS"].instance_path, DATABASE_URL=db_url, IVR_KB_PATH=str(kb))

    def cli(*args):
        proc = invoke_cli(cli_process, *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    odd = "zorblax gadget thingamajig fizzbuzz"
    for _ in range(2):
        driver = call()
        driver.start()
        driver.press("1")
        step = driver.say(odd)
        assert "Sorry, I can only help with" in " ".join(step.heard)  # declined (the off_topic line)
    gaps = json.loads(cli("kb", "gaps", "--json"))
    assert gaps[0]["question"] == odd and gaps[0]["count"] == 2
    assert odd in cli("kb", "gaps")

    target = sorted((kb / "articles").glob("*.md"))[5].stem
    cli("kb", "add-sample", target, odd)
    meta = yaml.safe_load(FRONT_MATTER_RE.match((kb / "articles" / f"{target}.md").read_text()).group(1))
    assert meta["questions"][-1] == odd

    driver = call()
    driver.start()
    driver.press("1")
    driver.say(odd)
    session = services(app).sessionmaker()
    last = session.scalars(select(QuestionAsked).order_by(QuestionAsked.id.desc())).first()
    assert (last.text, last.article_id) == (odd, target)
    session.close()


def test_add_sample_unknown_article_is_one_clear_line(tmp_path):
    app = cli_app(tmp_path, IVR_KB_PATH=str(ROOT / "kb_data"))
    proc = invoke_cli(app, "kb", "add-sample", "no-such-article", "hello")
    assert proc.returncode == 1 and proc.stderr.startswith("error: no article 'no-such-article'")
    assert proc.stderr.count("\n") == 1
