"""Retrieval as callers meet it: paraphrases answered, close calls offered as a choice."""
from __future__ import annotations

from ivr.kb.files import read_knowledge_base
from ivr.kb.search import SearchEngine
from ivr.services import services

from .conftest import ROOT, ask, question_asked


def words(text: str) -> set[str]:
    return {w.strip("?,.'").lower() for w in text.split()}


def test_paraphrase_sharing_no_word_with_the_title_is_answered(app, call, db):
    from ivr.kb.models import Article

    title = db.get(Article, "charged-twice").title
    question = "i see the same purchase on my statement two times"
    assert not words(question) & words(title)
    driver = call()
    step = ask(driver, question)
    assert db.get(Article, "charged-twice").answer in " ".join(step.heard)
    assert question_asked(db, driver).outcome == "answered"


def find_close_question(engine: SearchEngine) -> tuple[str, list]:
    candidates = [
        "how long until the refund on my gift card",
        "where do I send a return and how long do I have",
        "I paid with a gift card and returned it, how long does the refund take",
    ]
    for q in candidates:
        decision = engine.decide(q)
        if decision.kind == "choose":
            return q, decision.hits
    raise AssertionError("none of the mixed questions was close enough to ask the caller")


def test_close_candidates_ask_the_caller_to_choose(app, call, db):
    engine = SearchEngine.build(read_knowledge_base(ROOT / "kb_data").articles)
    question, hits = find_close_question(engine)
    assert hits[0].article_id != hits[1].article_id
    driver = call()
    step = ask(driver, question)
    text = " ".join(step.heard)
    from ivr.flow.states.ask import title_in_sentence

    assert f"Press 1 for {title_in_sentence(hits[0].title)}. 2 for {title_in_sentence(hits[1].title)}." in text
    assert "Did that help?" not in text  # no answer read before the caller chooses
    from ivr.kb.models import Article

    chosen = driver.press("2")
    picked = db.get(Article, hits[1].article_id)
    assert picked.answer in " ".join(chosen.heard)
    # The caller's own pick, introduced as theirs (not "another answer that might help").
    assert services(app).prompts.text("picked_answer_intro", title=picked.to_text().said_title) in " ".join(chosen.heard)
    assert "another answer" not in chosen.heard[0]
    asked = question_asked(db, driver)
    assert asked.article_id == hits[1].article_id and asked.outcome == "answered"


def test_choosing_neither_is_a_gap(app, call, db):
    engine = SearchEngine.build(read_knowledge_base(ROOT / "kb_data").articles)
    question, _ = find_close_question(engine)
    driver = call()
    ask(driver, question)
    step = driver.press("3")
    assert services(app).prompts.text("choice_ask_again", key="6") in " ".join(step.heard)
    asked = question_asked(db, driver)
    assert asked.outcome == "declined" and asked.helped is False


def test_spoken_titles_from_front_matter_or_derived(tmp_path):
    """A title said in a sentence: the front matter's spoken_title, else the title as heard mid-sentence."""
    from ivr.kb.article import title_in_sentence
    from ivr.kb.files import article_text, parse_article

    kb = read_knowledge_base(ROOT / "kb_data")
    by_id = {a.id: a for a in kb.articles}
    assert by_id["damaged-item"].said_title == "a damaged item"
    assert by_id["return-window"].said_title == "how long you have to return an item"
    assert title_in_sentence("PayPal and Apple Pay") == "PayPal and Apple Pay"  # a name keeps its capital
    written = tmp_path / "damaged-item.md"
    written.write_text(article_text(by_id["damaged-item"]))  # as the dashboard writes an edited article
    assert parse_article(written).spoken_title == "a damaged item"
