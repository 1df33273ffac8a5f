"""Orders a shop can trust: by keypad or voice, read back, the caller proven, three strikes, and sources."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from ivr.calls.models import CallEvent
from ivr.orders.lookup import import_orders
from ivr.orders.models import Order
from ivr.orders.source import OrderSourceError, lookup_order
from ivr.orders.verify import digits_from_speech, phones_match, postcodes_match
from ivr.services import services

from .conftest import ROOT, cli_app, invoke_cli
from .test_postgres import pg_url  # noqa: F401 - a throw-away PostgreSQL database


def heard(step) -> str:
    return " ".join(step.heard)


def t(app, pid: str, **values) -> str:
    return services(app).prompts.text(pid, **values)


def start_order(driver):
    driver.start()
    return driver.press("3")


# ------------------------------------------------------------------ the call


def test_order_found_by_keypad_for_the_caller_whose_phone_is_on_it(app, call, db):
    order = db.get(Order, "1001")
    driver = call(caller=order.phone)
    start_order(driver)
    step = driver.press("1001#")
    assert heard(step).startswith("I heard order 1 0 0 1.")
    assert "Order 1 0 0 1" not in heard(step)  # nothing read before the caller confirms
    step = driver.press("1")
    assert "Order 1 0 0 1 has been delivered." in heard(step)
    assert order.detail in heard(step)
    assert t(app, "choice_text_me", key="7") in heard(step)
    assert t(app, "order_postcode_ask") not in heard(step)  # their own phone is proof enough


def test_order_without_phone_or_postcode_is_read_to_anyone(app, call):
    driver = call(caller="+15557654321")
    start_order(driver)
    driver.press("2207#")
    step = driver.press("1")
    assert "Order 2 2 0 7 is out for delivery today." in heard(step)


def test_wrong_postcode_reads_nothing_then_right_postcode_reads_details(app, call, db):
    order = db.get(Order, "4512")
    driver = call(caller="+15557654321")
    start_order(driver)
    driver.press("4512#")
    step = driver.press("1")
    assert t(app, "order_postcode_ask") in heard(step)
    assert order.detail not in heard(step)
    step = driver.press("90210#")
    assert t(app, "order_postcode_wrong") in heard(step)
    assert order.detail not in heard(step) and "has shipped" not in heard(step)
    assert t(app, "order_postcode_ask") in heard(step)
    step = driver.press("04101#")
    assert "Order 4 5 1 2 has shipped." in heard(step) and order.detail in heard(step)
    failures = db.scalar(select(func.count()).select_from(CallEvent).where(
        CallEvent.call_sid == driver.call_sid, CallEvent.kind == "order_check_failed"))
    assert failures == 1


def test_order_number_and_postcode_by_voice(app, call, db):
    driver = call(caller="+15557654321")
    start_order(driver)
    step = driver.say("four five one two")
    assert heard(step).startswith("I heard order 4 5 1 2.")
    step = driver.say("yes")
    assert t(app, "order_postcode_ask") in heard(step)
    step = driver.say("zero four one oh one")
    assert "Order 4 5 1 2 has shipped." in heard(step)


def test_read_back_lets_the_caller_correct_a_misheard_number(app, call):
    driver = call(caller="+15557654321")
    start_order(driver)
    step = driver.say("double seven three four one")
    assert heard(step).startswith("I heard order 7 7 3 4 1.")
    step = driver.say("no")
    assert t(app, "order_ask") in heard(step)
    step = driver.say("my order number is two two oh seven")
    assert heard(step).startswith("I heard order 2 2 0 7.")


def test_a_sentence_is_not_an_order_number(app, call):
    driver = call()
    start_order(driver)
    step = driver.say("where is my parcel")
    assert t(app, "order_not_digits") in heard(step) and t(app, "order_ask") in heard(step)


def test_phone_only_order_from_another_phone_is_not_read(app, call, db):
    order = db.get(Order, "1001")  # phone on file, no postcode: nothing else can prove it
    driver = call(caller="+15557654321")
    start_order(driver)
    driver.press("1001#")
    step = driver.press("1")
    assert t(app, "order_cannot_verify") in heard(step)
    assert order.detail not in heard(step) and "delivered" not in heard(step)


def test_three_failures_lock_orders_for_the_call_and_offer_a_message(app, call, db):
    driver = call(caller="+15557654321")
    start_order(driver)
    driver.press("99999999#")
    step = driver.press("1")
    assert "I couldn't find order 9 9 9 9 9 9 9 9." in heard(step)
    driver.press("88887777#")
    step = driver.press("1")
    assert "I couldn't find order 8 8 8 8 7 7 7 7." in heard(step)
    driver.press("4512#")
    driver.press("1")
    step = driver.press("11111#")  # wrong postcode: the third failure
    assert t(app, "order_postcode_wrong") in heard(step)
    assert t(app, "order_locked") in heard(step) and t(app, "choice_message", key="8") in heard(step)
    assert "has shipped" not in driver.heard[-1] and "has shipped" not in " ".join(driver.heard)
    # Going back to the main menu doesn't reset the count.
    driver.press("*")
    step = driver.press("3")
    assert t(app, "order_locked") in heard(step) and t(app, "order_ask") not in heard(step)
    step = driver.press("8")
    assert step.waiting == "record"


def test_after_order_menu_keys_are_the_ones_it_says(app, call):
    from ivr.flow.menus import all_choices, announced_keys, menu_says
    from ivr.flow.states import MENUS

    driver = call(caller="+15005550006")
    start_order(driver)
    driver.press("1001#")
    driver.press("1")
    from ivr.flow.context import CallContext

    with app.app_context():
        ctx = CallContext(app=app, session=services(app).sessionmaker(), call_sid=driver.call_sid)
        for name, params in (("after_order", {"number": "1001"}), ("order_failed", {}), ("order_locked", {}),
                             ("order_confirm", {"number": "1001"})):
            built = MENUS[name](ctx, **params)
            said = announced_keys(" ".join(menu_says(ctx, name, built)))
            assert {c.key for c in built.choices} <= said, name  # every own key is offered...
            assert said <= {c.key for c in all_choices(name, built, params)} | {"*"}, name  # ...and only real ones
        ctx.session.close()
    step = driver.press("9")  # again: verified earlier in this call, read without asking twice
    assert "Order 1 0 0 1 has been delivered." in heard(step)


# ------------------------------------------------------------------ pieces


@pytest.mark.parametrize("said, digits", [
    ("four five one two", "4512"),
    ("4 5 1 2", "4512"),
    ("45 12", "4512"),
    ("double seven three four one", "77341"),
    ("oh oh one two", "0012"),
    ("my order number is two two oh seven", "2207"),
    ("Four, five, one, two.", "4512"),
    ("I want to check my order", ""),
    ("", ""),
])
def test_digits_from_speech(said, digits):
    assert digits_from_speech(said) == digits


def test_phone_and_postcode_matching():
    assert phones_match("+12075550142", "+12075550142")
    assert phones_match("(207) 555-0142", "+12075550142")
    assert not phones_match("+12075550142", "+12075550143")
    assert not phones_match("+442075550142", "+12075550142")
    assert not phones_match("", "+12075550142") and not phones_match("+12075550142", "anonymous")
    assert postcodes_match("04101", "04101") and postcodes_match("041011234", "04101")
    assert postcodes_match("SW1A 1AA", "sw1a1aa") and not postcodes_match("04101", "04102")
    assert not postcodes_match(None, "04101") and not postcodes_match("04101", "")


def test_orders_from_the_shops_own_database_read_only(app, db, tmp_path):
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("create table sales (ref text, state text, note text, tel text, zip text)")
        conn.execute("insert into sales values ('700700', 'Shipped', 'Sent by courier today.', '+12075550100', '04101')")
    query = ("select ref as number, state as status, note as detail, tel as phone, zip as postcode "
             "from sales where ref = :number")
    app.config["IVR_SETTINGS"] = replace(app.config["IVR_SETTINGS"], orders_sql_url=f"sqlite:///{shop}",
                                         orders_sql_query=query)
    found = lookup_order(app, db, "700700")
    assert (found.number, found.status, found.detail, found.phone, found.postcode) == \
        ("700700", "shipped", "Sent by courier today.", "+12075550100", "04101")
    assert lookup_order(app, db, "1001") is None  # our own table is not consulted
    assert lookup_order(app, db, "1' or '1'='1") is None  # not even a number: never reaches SQL
    # The connection refuses writes, whatever the query says.
    app.config["IVR_SETTINGS"] = replace(app.config["IVR_SETTINGS"],
                                         orders_sql_query="select * from sales where ref = :number")
    services(app).orders_engine.dispose()
    services(app).orders_engine = None
    engine = __import__("ivr.orders.source", fromlist=["x"])._shop_engine(app)
    with engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        conn.exec_driver_sql("insert into sales values ('1', 'x', '', '', '')")
    # A broken query is a clear error for the flow, not a crash.
    app.config["IVR_SETTINGS"] = replace(app.config["IVR_SETTINGS"], orders_sql_query="select * from nowhere where a = :number")
    with pytest.raises(OrderSourceError, match="no such table"):
        lookup_order(app, db, "700700")


def test_shop_database_query_times_out(app, db, tmp_path):
    shop = tmp_path / "slow.db"
    sqlite3.connect(shop).close()
    slow = ("with recursive n(i) as (select 1 union all select i + 1 from n) "
            "select :number as number, 'shipped' as status from n where i = 1000000000")
    app.config["IVR_SETTINGS"] = replace(app.config["IVR_SETTINGS"], orders_sql_url=f"sqlite:///{shop}",
                                         orders_sql_query=slow, orders_sql_timeout=1)
    with pytest.raises(OrderSourceError, match="interrupted"):
        lookup_order(app, db, "700700")


def test_sql_settings_are_checked(settings_overrides):
    from ivr.config import ConfigError, load_settings

    base = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "2" * 32, "SECRET_KEY": "s" * 32}
    with pytest.raises(ConfigError, match="IVR_ORDERS_SQL_URL and IVR_ORDERS_SQL_QUERY go together"):
        load_settings({**base, "IVR_ORDERS_SQL_URL": "sqlite:///x.db"})
    with pytest.raises(ConfigError, match=":number"):
        load_settings({**base, "IVR_ORDERS_SQL_URL": "sqlite:///x.db", "IVR_ORDERS_SQL_QUERY": "select * from o where n = '1'"})
    with pytest.raises(ConfigError, match="one SELECT"):
        load_settings({**base, "IVR_ORDERS_SQL_URL": "sqlite:///x.db",
                       "IVR_ORDERS_SQL_QUERY": "delete from o where n = :number"})


def test_sample_orders_are_loaded_only_into_an_empty_table(app, db):
    order = db.get(Order, "4512")
    order.status, order.detail = "delivered", "A real order the shop keeps."
    db.commit()
    assert import_orders(db, ROOT / "samples" / "orders.csv", only_if_empty=True) == (0, 0)
    db.commit()
    db.expire_all()
    assert db.get(Order, "4512").detail == "A real order the shop keeps."


def _cli(app, *args):
    return invoke_cli(app, *args)


@pytest.mark.slow
def test_orders_commands(tmp_path):
    app = cli_app(tmp_path / "instance")
    first = _cli(app, "orders", "import", "--if-empty", str(ROOT / "samples" / "orders.csv"), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["added"] == 12
    again = _cli(app, "orders", "import", "--if-empty", str(ROOT / "samples" / "orders.csv"))
    assert again.returncode == 0 and again.stdout.startswith("not imported: the orders table already has 12")
    listed = json.loads(_cli(app, "orders", "list", "--json").stdout)
    assert {o["number"] for o in listed} >= {"1001", "4512"}
    assert next(o for o in listed if o["number"] == "4512")["postcode"] == "04101"
    shipped = json.loads(_cli(app, "orders", "list", "--status", "shipped", "--json").stdout)
    assert shipped and all(o["status"] == "shipped" for o in shipped)
    gone = _cli(app, "orders", "delete", "4512", "1001")
    assert gone.returncode == 0 and gone.stdout.strip() == "deleted 2 order(s)"
    missing = _cli(app, "orders", "delete", "4512")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no such order(s): 4512 (nothing deleted)"
    assert len(json.loads(_cli(app, "orders", "list", "--json").stdout)) == 10


def test_orders_from_a_postgresql_shop_database_are_read_only_and_time_limited(app, db, pg_url):
    from sqlalchemy import create_engine, text

    owner = create_engine(pg_url)
    with owner.begin() as conn:
        conn.execute(text("create table shop_orders (ref text primary key, state text, note text, zip text)"))
        conn.execute(text("insert into shop_orders values ('910001', 'delivered', 'Left with a neighbour.', '04101')"))
    settings = replace(app.config["IVR_SETTINGS"], orders_sql_url=pg_url, orders_sql_timeout=1,
                       orders_sql_query="select ref as number, state as status, note as detail, zip as postcode "
                                        "from shop_orders where ref = :number")
    app.config["IVR_SETTINGS"] = settings
    found = lookup_order(app, db, "910001")
    assert (found.status, found.detail, found.postcode, found.protected) == ("delivered", "Left with a neighbour.",
                                                                            "04101", True)
    services(app).orders_engine.dispose()
    services(app).orders_engine = None
    app.config["IVR_SETTINGS"] = replace(settings, orders_sql_query=(
        "with gone as (delete from shop_orders returning *) select ref as number, state as status from gone "
        "where ref = :number"))
    with pytest.raises(OrderSourceError, match="read-only"):
        lookup_order(app, db, "910001")
    services(app).orders_engine.dispose()
    services(app).orders_engine = None
    app.config["IVR_SETTINGS"] = replace(settings, orders_sql_query=(
        "select ref as number, state as status from shop_orders, pg_sleep(5) where ref = :number"))
    with pytest.raises(OrderSourceError, match="statement timeout"):
        lookup_order(app, db, "910001")
    services(app).orders_engine.dispose()
    services(app).orders_engine = None
    with owner.connect() as conn:
        assert conn.execute(text("select count(*) from shop_orders")).scalar_one() == 1
    owner.dispose()


@pytest.mark.slow
def test_doctor_reports_hours_orders_and_texts(tmp_path):
    shop = tmp_path / "shop.db"
    sqlite3.connect(shop).close()  # no orders table: the query can't run
    app = cli_app(tmp_path / "instance", IVR_ORDERS_SQL_URL=f"sqlite:///{shop}",
                  IVR_ORDERS_SQL_QUERY="select * from orders where number = :number",
                  TWILIO_API_BASE="http://127.0.0.1:9")
    proc = invoke_cli(app, "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    found = {c["check"]: c for c in json.loads(proc.stdout)}
    assert found["opening hours"]["ok"] and found["opening hours"]["detail"].split(" now ")[0] in ("open", "closed")
    assert not found["orders"]["ok"] and "no such table: orders" in found["orders"]["detail"]
    assert found["texts"]["ok"] and "the number each caller called" in found["texts"]["detail"]
