"""Off-topic questions declined, in-scope paraphrases answered: the engine, a real call, the CLI."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict

import pytest

from ivr.kb.article import ArticleText
from ivr.kb.evaluate import evaluate, read_labelled_csv
from ivr.kb.files import read_knowledge_base
from ivr.kb.search import SearchEngine, off_topic_questions
from ivr.services import services

from .conftest import ROOT, ask, cli_app, invoke_cli, question_asked

EVAL = ROOT / "kb_data" / "eval_questions.csv"
SHARED = ROOT.parent / "shared" / "datasets" / "clinc150"
if not SHARED.is_dir():
    SHARED = ROOT.parent.parent / "shared" / "datasets" / "clinc150"  # a worktree under /work/wt

OFF_TOPIC = [  # from the held-out eval file; none of them is in the shipped negatives
    "i'd like to apply for the assistant manager job",
    "can you recommend somewhere nice to eat tonight",
    "do you sell motorbikes",
    "i have a proposal for a joint venture with your firm",
]
IN_SCOPE = [
    ("the password reset email never came", "reset-password"),
    ("do you deliver to australia", "international-shipping"),
    ("my discount code isn't working", "promo-codes"),
]


@pytest.fixture(scope="module")
def engine() -> SearchEngine:
    return SearchEngine.build(read_knowledge_base(ROOT / "kb_data").articles)


def test_eval_file_holds_paraphrases_and_off_topic_questions_the_engine_has_not_seen(engine):
    rows = read_labelled_csv(EVAL)
    samples = {q.lower() for a in engine.articles for q in a.questions}
    negatives = {q.lower() for q in off_topic_questions()}
    assert sum(1 for _, aid in rows if not aid) >= 15 and sum(1 for _, aid in rows if aid) >= 50
    assert not {t.lower() for t, _ in rows} & (samples | negatives)  # held out
    assert {aid for _, aid in rows if aid} == {a.id for a in engine.articles}


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_are_declined_as_off_topic(engine, question):
    decision = engine.decide(question)
    assert decision.kind == "none" and decision.signal == "off_topic"
    assert decision.in_scope < engine.thresholds.in_scope
    assert decision.hits  # the candidates are still there to explain the decision


@pytest.mark.parametrize("question,article", IN_SCOPE)
def test_in_scope_paraphrases_are_answered(engine, question, article):
    decision = engine.decide(question)
    assert (decision.kind, decision.signal, decision.hits[0].article_id) == ("answer", "confident", article)
    assert decision.in_scope > 0.5


def test_eval_file_on_the_sample_knowledge_base(engine):
    report = evaluate(engine, read_labelled_csv(EVAL))
    assert report.out_of_scope >= 15 and report.in_scope >= 50
    assert report.oos_answered <= 0.1 and report.oos_declined >= 0.85
    assert report.in_scope_right >= 0.85 and report.in_scope_wrong <= 0.03
    assert abs(report.oos_answered + report.oos_choice + report.oos_declined - 1) < 1e-9


@pytest.mark.parametrize("question", OFF_TOPIC[:2])
def test_off_topic_question_in_a_call_is_declined_and_offers_a_message(app, call, db, question):
    driver = call()
    step = ask(driver, question)
    prompts = services(app).prompts
    heard = " ".join(step.heard)
    # One sentence says what the desk does cover, then how to ask again or leave a message.
    assert prompts.text("off_topic", topics="orders and shipping, returns and refunds, and your account") in heard
    assert "or 8 for a message" in heard
    assert "Did that help?" not in heard  # no article was read out
    asked = question_asked(db, driver)
    assert asked.outcome == "declined" and asked.article_id is None


def test_in_scope_paraphrase_in_a_call_is_answered(app, call, db):
    from ivr.kb.models import Article

    question, article = IN_SCOPE[0]
    driver = call()
    step = ask(driver, question)
    assert db.get(Article, article).answer in " ".join(step.heard)
    asked = question_asked(db, driver)
    assert asked.outcome == "answered" and asked.article_id == article


def test_a_knowledge_base_that_covers_a_subject_does_not_learn_to_decline_it():
    """Shipped negatives close to the KB's own questions are set aside for that KB."""
    weather = ArticleText(id="weather", title="Weather forecasts", topic="t", answer="We read the forecast.",
                          questions=("what's the weather going to be like tomorrow", "will it rain today",
                                     "what is the forecast for the weekend", "how hot will it be this afternoon"))
    others = [ArticleText(id=f"a{i}", title=t, topic="t", answer=t, questions=qs) for i, (t, qs) in enumerate([
        ("Opening hours", ("when are you open", "what time do you close", "are you open on sunday")),
        ("Parking", ("where can i park", "is there a car park", "do you have parking spaces")),
        ("Prices", ("how much does a ticket cost", "what are your prices", "is there a family ticket")),
    ])]
    with_weather = SearchEngine.build([weather, *others])
    without = SearchEngine.build(others)
    assert len(with_weather._negatives) < len(without._negatives)
    assert without.decide("will it rain this weekend").kind == "none"
    decision = with_weather.decide("will it rain this weekend")
    assert decision.kind == "answer" and decision.hits[0].article_id == "weather"


def test_shipped_negatives_have_a_licence_and_are_not_the_benchmark_questions():
    text = (ROOT / "ivr" / "kb" / "data" / "off_topic.txt").read_text()
    assert "CC0" in text and len(off_topic_questions()) >= 200
    if not SHARED.is_dir():
        pytest.skip(f"CLINC150 not found at {SHARED}")
    oos = set()
    for name in ("train.csv", "val.csv"):
        with open(SHARED / name, newline="", encoding="utf-8") as fh:
            oos |= {r["text"].strip().lower() for r in csv.DictReader(fh) if r["intent"].strip() == "oos"}
    assert not oos & {q.lower() for q in off_topic_questions()}


def _run(app, *args):
    return invoke_cli(app, *args)


@pytest.mark.slow
def test_kb_eval_reports_out_of_scope_rows_and_kb_ask_explains(tmp_path):
    env = cli_app(tmp_path)  # the app `python -m ivr` builds there, run in this process
    assert _run(env, "kb", "load").returncode == 0
    out = _run(env, "kb", "eval", str(EVAL), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rows = read_labelled_csv(EVAL)
    assert data["out_of_scope"] == sum(1 for _, a in rows if not a) and data["in_scope"] + data["out_of_scope"] == len(rows)
    assert data["oos_answered"] <= 0.1 and data["in_scope_right"] >= 0.85
    only_off = tmp_path / "off.csv"
    only_off.write_text("text,article_id\n" + "".join(f"{q},\n" for q in OFF_TOPIC))
    text = _run(env, "kb", "eval", str(only_off)).stdout
    assert "out_of_scope=4" in text and "oos_declined=1.0000" in text and "oos_answered=0.0000" in text
    mixed = tmp_path / "mixed.csv"  # one row labelled with the wrong article: it must be listed
    mixed.write_text(f"text,article_id\n{OFF_TOPIC[2]},\n{IN_SCOPE[0][0]},{IN_SCOPE[1][1]}\n")
    listed = json.loads(_run(env, "kb", "eval", str(mixed), "--misses", "--json").stdout)
    assert [m["text"] for m in listed["misses"]] == [IN_SCOPE[0][0]]
    assert listed["misses"][0]["offered"] == [IN_SCOPE[0][1]] and listed["in_scope_wrong"] == 1.0

    declined = json.loads(_run(env, "kb", "ask", "do you sell motorbikes", "--json").stdout)
    assert declined["outcome"] == "decline" and declined["signal"] == "off_topic" and declined["offered"] == []
    assert declined["in_scope"] < declined["thresholds"]["in_scope"] and len(declined["candidates"]) == 3
    answered = json.loads(_run(env, "kb", "ask", IN_SCOPE[0][0], "--json").stdout)
    assert answered["outcome"] == "answer" and answered["offered"] == [IN_SCOPE[0][1]]
    assert answered["candidates"][0]["article_id"] == IN_SCOPE[0][1] and answered["signal"] == "confident"
    proc = _run(env, "kb", "ask", "can you mail it to toronto")
    assert proc.returncode == 0
    assert "caller gets:" in proc.stdout and "decided by:" in proc.stdout and "in scope:" in proc.stdout
    assert "international-shipping" in proc.stdout
    empty = _run(env, "kb", "ask", "  ")
    assert empty.returncode == 1 and empty.stderr.strip() == "error: the question is empty"


@pytest.mark.slow
def test_benchmark_runs_on_a_slice_of_clinc150(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"CLINC150 not found at {SHARED} (../shared/datasets)")
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(SHARED / "train.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            by_intent[r["intent"].strip()].append(r["text"].strip())
    intents = sorted(i for i in by_intent if i != "oos")[:8]
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    with open(train, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "intent"])
        w.writerows((t, i) for i in intents for t in by_intent[i][:12])
    with open(test, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "intent"])
        w.writerows((t, i) for i in intents for t in by_intent[i][12:15])
        w.writerows((t, "oos") for t in by_intent["oos"][:8])
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "kb_oos.py"), "--train", str(train),
                           "--test", str(test), "--shots", "10"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    last = [line.split("=")[0] for line in proc.stdout.strip().splitlines()[-4:]]
    assert last == ["in_scope_right", "in_scope_wrong", "oos_answered", "p95_ms"]
    assert "in_scope_questions=24 oos_questions=8" in proc.stdout
