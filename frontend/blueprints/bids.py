"""Batch bidding: filter result -> plan (its own page, shown before signing) -> batches in the background -> outcomes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import delete, func, insert, select, update
from werkzeug.datastructures import MultiDict

from frontend import auction_ops, auction_reads
from frontend import catalog_adapter as ca
from frontend.errors import FormError, NotFound
from frontend.forms import Kept, format_eth, parse_catalog_query, parse_eth
from frontend.security import require_user
from frontend.webstate import PLANS, create_web_tables, new_id, plan_from_json, plan_to_json

bp = Blueprint("bids", __name__, url_prefix="/bids")
PLAN_TTL_S = 1800


@dataclass
class StoredPlan:
    """A plan and what its page shows besides (the filter, the limits); ``job_id`` once placed."""

    plan: object
    total_matching: int
    args: dict
    max_price: int
    budget: int
    job_id: str | None = None
    placed: bool = False


class PlanStore:
    """Plans waiting for the user's go-ahead, per owner, in the database (``web_plans``: they hold no
    secrets), so a plan made on one worker shows and places on another.

    A placed plan stays readable (its page then links to the job) but cannot be placed again.
    """

    def __init__(self, engine, ttl_s: float = PLAN_TTL_S):
        self.engine = engine
        self.ttl = ttl_s
        create_web_tables(engine)

    def put(self, owner: str, plan: StoredPlan) -> str:
        pid = new_id()
        now = time.time()
        body = json.dumps({"plan": plan_to_json(plan.plan), "total_matching": plan.total_matching, "args": plan.args,
                           "max_price": str(plan.max_price), "budget": str(plan.budget)})
        with self.engine.begin() as c:
            c.execute(delete(PLANS).where(PLANS.c.created < now - self.ttl))
            c.execute(insert(PLANS).values(id=pid, owner=owner.lower(), created=now, placed=False, job_id=None,
                                           body=body))
        return pid

    def claim(self, pid: str, owner: str) -> StoredPlan | None:
        """The owner's plan, marked placed; None if it is not theirs, gone, or placed already (one
        UPDATE: two workers claiming at once, one wins)."""
        with self.engine.begin() as c:
            won = c.execute(update(PLANS).where(PLANS.c.id == str(pid)[:32], PLANS.c.owner == owner.lower(),
                                                PLANS.c.placed.is_(False),
                                                PLANS.c.created >= time.time() - self.ttl)
                            .values(placed=True)).rowcount
        return self.get(pid, owner) if won == 1 else None

    def attach_job(self, pid: str, job_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(update(PLANS).where(PLANS.c.id == str(pid)[:32]).values(job_id=job_id))

    def get(self, pid: str, owner: str) -> StoredPlan | None:
        with self.engine.connect() as c:
            r = c.execute(select(PLANS).where(PLANS.c.id == str(pid)[:32], PLANS.c.owner == owner.lower(),
                                              PLANS.c.created >= time.time() - self.ttl)).mappings().first()
        if r is None:
            return None
        d = json.loads(r["body"])
        return StoredPlan(plan_from_json(d["plan"]), d["total_matching"], d["args"], int(d["max_price"]),
                          int(d["budget"]), r["job_id"], bool(r["placed"]))

    def count(self, owner: str | None = None) -> int:
        """Plans stored (of ``owner``, or of everyone)."""
        q = select(func.count()).select_from(PLANS)
        if owner is not None:
            q = q.where(PLANS.c.owner == owner.lower())
        with self.engine.connect() as c:
            return c.execute(q).scalar_one()


def _services():
    return current_app.extensions["thingbid.services"]


def _plans() -> PlanStore:
    return current_app.extensions["thingbid.plans"]


def _jobs():
    return current_app.extensions["thingbid.jobs"]


def filter_from_form(form):
    """The catalog filter carried in f_* hidden fields of the bid form."""
    args = MultiDict({k[2:]: v for k, v in form.items() if k.startswith("f_")})
    cq = parse_catalog_query(args)
    if cq.errors:
        raise cq.errors[0]
    return cq


@bp.route("/")
def index():
    user = require_user()
    return render_template("bids/index.html", jobs=_jobs().of(user.address),
                           bids=auction_reads.my_bids(_services(), user.address))


@bp.route("/plan", methods=["POST"])
def plan():
    from frontend.blueprints.catalog import render_device, render_search

    user = require_user()
    cq = None
    try:
        cq = filter_from_form(request.form)
        max_price = parse_eth("max_price", request.form.get("max_price"))
        # One device (the bid box of its page): the budget may stay empty, it is then the price.
        budget = parse_eth("budget", request.form.get("budget"), required=not cq.device_id)
        budget = max_price if budget is None else budget
        if budget < max_price:
            raise FormError("budget", "must be at least the price per device")
    except FormError as exc:
        kept = Kept.of("bid", request.form, ("max_price", "budget"), exc.field)
        if cq is not None and cq.device_id:  # the device's page again, its bid box as typed
            return render_device(cq.device_id, [exc], kept, 400)
        # The catalog page again, with the same filter, the message and what was typed in the bid box.
        filter_args = MultiDict({k[2:]: v for k, v in request.form.items() if k.startswith("f_")})
        return render_search(filter_args, [exc], kept, 400)
    services = _services()
    devices, total = ca.all_matching(services.catalog(), cq, ca.BID_LIMIT)
    p = auction_reads.make_plan(services, user.address, devices, max_price, budget)
    pid = _plans().put(user.address, StoredPlan(p, total, cq.as_args(), max_price, budget))
    # Post/Redirect/Get: the plan has its own address, so Back and reload show it again.
    return redirect(url_for("bids.show_plan", pid=pid), code=303)


@bp.route("/plan/<pid>")
def show_plan(pid: str):
    user = require_user()
    stored = _plans().get(pid, user.address)
    if stored is None:
        raise NotFound("no such plan (expired, or not yours): make a new one from the catalog")
    p = stored.plan
    free, _locked = auction_reads.balance_of(_services(), user.address)
    return render_template("bids/plan.html", plan=p, pid=pid, total_matching=stored.total_matching, free=free,
                           need=max(0, p.total - free), args=stored.args, max_price=stored.max_price,
                           budget=stored.budget, placed=stored.placed, job_id=stored.job_id)


@bp.route("/place", methods=["POST"])
def place():
    user = require_user()
    pid = request.form.get("plan", "")
    stored = _plans().claim(pid, user.address)
    if stored is None:
        raise NotFound("this plan is gone (placed already, expired, or not yours): make a new one")
    p = stored.plan
    top_up = request.form.get("top_up") == "1"
    services = _services()
    job = _jobs().start(user.address, "bids", len(p.batches), p.count,
                        lambda job: auction_ops.place_plan(services, user, p, job, top_up=top_up),
                        meta={"total": p.total, "skipped_in_plan": p.skipped})
    _plans().attach_job(pid, job.id)
    return redirect(url_for("bids.job", job_id=job.id))


@bp.route("/job/<job_id>")
def job(job_id: str):
    user = require_user()
    j = _jobs().get(job_id, user.address)
    if j is None:
        raise NotFound("no such bidding job")
    return render_template("bids/job.html", job=j, p=j.progress(), eth=format_eth)


@bp.route("/job/<job_id>.json")
def job_progress(job_id: str):
    user = require_user()
    j = _jobs().get(job_id, user.address)
    if j is None:
        raise NotFound("no such bidding job")
    return jsonify(j.progress())
