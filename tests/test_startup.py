"""Start-up: nothing slow happens on a caller's webhook; /healthz says "starting" until it is done."""
from __future__ import annotations

import shutil
import threading

from ivr.db import session_scope
from ivr.kb.loader import load_knowledge_base
from ivr.kb.service import search_engine
from ivr.services import services

from .conftest import ROOT


def test_healthz_is_503_until_every_warm_up_task_is_done(app):
    client = app.test_client()
    readiness = services(app).readiness
    assert client.get("/healthz").status_code == 503  # a process that was never warmed up isn't ready
    release = threading.Event()
    readiness.add("slow thing", lambda _app: release.wait(30))
    readiness.start(app)
    resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "starting"
    assert "slow thing" in resp.get_json()["waiting_for"]
    release.set()
    assert readiness.wait(60)
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    # Warm-up built the search index: the first question finds it already there.
    assert services(app).kb.engine is not None


def test_a_failed_warm_up_task_is_reported_not_fatal(app):
    readiness = services(app).readiness
    readiness.tasks = {"broken": lambda _app: 1 / 0}
    readiness.start(app)
    assert readiness.wait(30)
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "ok" and "ZeroDivisionError" in body["degraded"]["broken"]


def test_a_reload_keeps_answering_with_the_old_index_until_the_new_one_is_swapped_in(app, tmp_path):
    readiness = services(app).readiness
    readiness.start(app)
    assert readiness.wait(120)
    holder = services(app).kb
    old = holder.engine
    # Another process reloads the knowledge base with one more article.
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "kb_data", kb)
    (kb / "articles" / "pet-policy.md").write_text(
        "---\nid: pet-policy\ntitle: Bringing your dog to the shop\ntopic: contact"
        "\nquestions:\n  - Can I bring my dog into the shop?\n---\nDogs on a lead are welcome.\n")
    sessions = services(app).sessionmaker
    with session_scope(sessions) as session:
        load_knowledge_base(session, kb)
    swapped = threading.Event()
    services(app).kb_reload_hooks.append(lambda _app: swapped.set())
    with session_scope(sessions) as session:
        assert search_engine(app, session) is old  # no index is built on the caller's request
    assert swapped.wait(120)
    with session_scope(sessions) as session:
        engine = search_engine(app, session)
    assert engine is not old and engine is holder.engine
    assert engine.decide("can I bring my dog into the shop").hits[0].article_id == "pet-policy"


def test_warm_up_renders_every_keys_menu_lines(settings_overrides):
    """Menus read their choices in one sentence built from the key map: warm-up renders each menu's, or every
    call waits (the main menu with and without the person key, the prompt after an answer with texting)."""
    from ivr.tts.service import texts_to_render

    from .conftest import make_test_app

    # Someone to transfer to, so the main menu can offer a person (0): warm-up renders that version too.
    app = make_test_app({**settings_overrides, "extra": {**settings_overrides["extra"], "IVR_TRANSFER_TO": "+15005550006"}},
                        template="loaded")
    texts = texts_to_render(app)
    assert "Say what you need, or press 1 to ask, 2 for topics, 3 for orders, 4 for a callback, or 0 for a person." in texts
    assert "Say what you need, or press 1 to ask, 2 for topics, 3 for orders, 4 for a callback, or 8 for a message." in texts
    assert "Press 1 for yes, 2 for another answer, or 7 for a text." in texts
    assert "Star is the main menu." in texts


def test_warm_up_renders_the_choose_menu_line_of_every_article(app):
    """A close call ("Press 1 for returns. 2 for refunds.") names articles: rendered ahead too."""
    from sqlalchemy import select

    from ivr.kb.models import Article
    from ivr.tts.service import texts_to_render

    prompts = services(app).prompts
    with app.app_context():
        session = services(app).sessionmaker()
        titles = [a.to_text().said_title for a in session.scalars(select(Article))]
        session.close()
    assert titles
    texts = set(texts_to_render(app))
    for title in titles:
        first = prompts.text("choice_first", key="1", title=title)
        assert prompts.text("menu_press", choices=first) in texts
        second = prompts.text("choice_second", key="2", title=title)
        assert prompts.text("choices_next", choice=second) in texts
        assert prompts.text("picked_answer_intro", title=title) in texts


def test_a_serving_process_runs_one_blas_thread_per_request(app):
    """Many requests embed questions at once: BLAS thread pools per product would fight over the cores."""
    import numpy  # noqa: F401 - loads OpenBLAS
    from threadpoolctl import threadpool_info, threadpool_limits

    from ivr.cli.serve import start_background

    original = threadpool_limits(limits=None)  # remember, restore after
    try:
        threadpool_limits(limits=2, user_api="blas")
        start_background(app, with_worker=False)
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == app.config["IVR_SETTINGS"].blas_threads == 1 for i in blas)
        assert services(app).readiness.wait(120)
    finally:
        original.restore_original_limits()
